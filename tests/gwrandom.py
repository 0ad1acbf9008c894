"""The random-seed setup of the tests, written once.

Every generated test (property, differential, garbage streams) draws from
rng(salt): random.Random seeded with SEED + salt. SEED is 0 unless
SMTPGW_SEED is set, so a normal run is the same run every time (each test
keeps its own salt, hence its own stream), and one variable moves every
stream at once to hunt for new cases: SMTPGW_SEED=7 scripts/test.
"""
import os
import random

SEED = int(os.environ.get("SMTPGW_SEED", "0"))


def rng(salt):
    """A generator for one test's stream; salt is the test's own constant."""
    return random.Random(SEED + salt)

