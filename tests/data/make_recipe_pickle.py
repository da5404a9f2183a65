"""Make ``recipe-v1.pickle``: a session pickled by this release, read by every later one.

    .venv/bin/python tests/data/make_recipe_pickle.py

Run once per recipe format version (never to refresh an existing file: the
point is that the old bytes keep working). No AWS call is made: pickling a
session never fetches credentials.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import rolesession

HUB = "arn:aws:iam::210987654321:role/Hub"
TARGET = "arn:aws:iam::111122223333:role/Target"


def main() -> None:
    session = rolesession.assume_role_chain(
        [HUB, {"role_arn": TARGET, "external_id": "partner-42"}],
        session_name="stored",
        duration=900,
        region="us-east-1",
        policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        refresh=rolesession.RefreshPolicy(advisory=600, mandatory=300),
    )
    path = Path(__file__).with_name("recipe-v1.pickle")
    path.write_bytes(pickle.dumps(session, protocol=4))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
