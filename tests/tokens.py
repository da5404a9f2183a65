"""Builders for realistic identity documents: OIDC JWTs and SAML Responses.

The library never looks inside them (the cache key hashes the whole token),
but STS does: moto parses the SAML Response for its ``Role``,
``RoleSessionName`` and ``SessionDuration`` attributes, so these must be
real documents, not placeholder strings.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
from typing import Any
from xml.sax.saxutils import escape

_serial = itertools.count(1)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(
    *,
    sub: str = "system:serviceaccount:default:app",
    aud: str = "sts.amazonaws.com",
    iss: str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    lifetime: int = 3600,
    **claims: Any,
) -> str:
    """A JWT-shaped token: ``header.payload.signature``, base64url JSON.

    Each call yields a different token (a serial ``jti``), as a real issuer
    would on rotation. The signature is a hash, not a real one: STS (moto)
    does not verify it.
    """
    now = int(time.time())
    header = {"alg": "RS256", "kid": "example-key-1", "typ": "JWT"}
    payload = {
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": f"token-{next(_serial)}",
        **claims,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
    )
    signature = _b64url(hashlib.sha256(signing_input.encode()).digest() * 8)
    return f"{signing_input}.{signature}"


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a token made by `make_jwt` (no verification)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


_SAML_ATTRIBUTE = (
    '<saml:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">'
    '<saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:type="xs:string">{value}</saml:AttributeValue></saml:Attribute>'
)

_SAML_RESPONSE = """<?xml version="1.0"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" \
xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp{serial}" Version="2.0" \
IssueInstant="{now}" Destination="https://signin.aws.amazon.com/saml">
  <saml:Issuer>{issuer}</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_assert{serial}" Version="2.0" \
IssueInstant="{now}">
    <saml:Issuer>{issuer}</saml:Issuer>
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{subject}</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData NotOnOrAfter="{until}" \
Recipient="https://signin.aws.amazon.com/saml"/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="{now}" NotOnOrAfter="{until}">
      <saml:AudienceRestriction><saml:Audience>urn:amazon:webservices</saml:Audience>\
</saml:AudienceRestriction>
    </saml:Conditions>
    <saml:AuthnStatement AuthnInstant="{now}" SessionIndex="_session{serial}">
      <saml:AuthnContext><saml:AuthnContextClassRef>\
urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>\
</saml:AuthnContext>
    </saml:AuthnStatement>
    <saml:AttributeStatement>{attributes}</saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>
"""


def make_saml_response(
    role_arn: str,
    principal_arn: str,
    *,
    session_name: str = "alice@example.com",
    duration: int = 3600,
    issuer: str = "https://idp.example.com/saml",
) -> str:
    """A base64 SAML 2.0 Response as an IdP posts it to AWS sign-in.

    Carries the AWS attributes: ``Role`` (``<role_arn>,<principal_arn>``),
    ``RoleSessionName`` and ``SessionDuration``. Each call yields a
    different document (serial IDs), like a fresh login.
    """
    serial = next(_serial)
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 300))
    attributes = "".join(
        _SAML_ATTRIBUTE.format(name=f"https://aws.amazon.com/SAML/Attributes/{name}", value=escape(value))
        for name, value in (
            ("Role", f"{role_arn},{principal_arn}"),
            ("RoleSessionName", session_name),
            ("SessionDuration", str(duration)),
        )
    )
    document = _SAML_RESPONSE.format(
        serial=serial,
        now=stamp,
        until=until,
        issuer=escape(issuer),
        subject=escape(session_name),
        attributes=attributes,
    )
    return base64.b64encode(document.encode("utf-8")).decode("ascii")
