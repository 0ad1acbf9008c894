"""The openspf RFC 7208 test suite (and RFC 4408 / pyspf extras) against
gateway/spf over real DNS: every case of rfc7208-tests.yml must pass.

Each scenario's zone is served by tests/dnsserver.py; build/tests/spf/
spf_check evaluates all its cases in one process (the resolver cache is
live across them, as in the gateway)."""
import functools
import pathlib

import pytest

from gwpaths import BUILD, TESTDATA
import spf_suite

SUITE_DIR = TESTDATA / "spf-rfc7208"
CASES_DIR = pathlib.Path(__file__).resolve().parent / "cases"
DRIVER = BUILD / "tests" / "spf" / "spf_check"


def _path(fname):
    return CASES_DIR / fname[len("cases/"):] if fname.startswith("cases/") else SUITE_DIR / fname


def _cases(fname):
    path = _path(fname)
    if not path.exists():
        return []
    return [pytest.param(fname, idx, name, id=f"{idx}-{name}")
            for idx, _desc, _zone, tests in spf_suite.load(path) for name in tests]


@functools.lru_cache(maxsize=None)
def _scenarios(fname):
    return {idx: (zonedata, tests) for idx, _d, zonedata, tests in
            spf_suite.load(_path(fname))}


@functools.lru_cache(maxsize=None)
def _results(fname, idx):
    zonedata, tests = _scenarios(fname)[idx]
    return spf_suite.run_scenario(DRIVER, zonedata, tests)


def _check(fname, idx, name):
    assert DRIVER.exists(), f"{DRIVER} is not built"
    case = _scenarios(fname)[idx][1][name]
    outcome = _results(fname, idx).get(name)
    assert outcome is not None, f"no output for {name}"
    problem = spf_suite.verdict(case, outcome)
    assert problem is None, f"{name} (spec {case.get('spec')}): {problem}"


@pytest.mark.parametrize("fname,idx,name", _cases("rfc7208-tests.yml"))
def test_rfc7208(fname, idx, name):
    _check(fname, idx, name)


@pytest.mark.parametrize("fname,idx,name", _cases("rfc4408-tests.yml"))
def test_rfc4408(fname, idx, name):
    """The older suite: RFC 7208 kept its cases compatible (lists of results)."""
    _check(fname, idx, name)


def _pyspf_case(fname, idx, name):
    case = _scenarios(fname)[idx][1][name]
    # pyspf's lax mode (strict: 0) honours the obsolete default= modifier and
    # its harsh mode invents an "ambiguous" result; RFC 7208 section 6 says
    # unknown modifiers MUST be ignored (the RFC 7208 suite's
    # default-modifier-obsolete cases check exactly that).
    if case.get("strict") == 0 or case.get("result") == "ambiguous":
        pytest.skip("pyspf-specific mode, contrary to RFC 7208 section 6")
    _check(fname, idx, name)


@pytest.mark.parametrize("fname,idx,name", _cases("pyspf-extra/test.yml"))
def test_pyspf_extra(fname, idx, name):
    _pyspf_case(fname, idx, name)


@pytest.mark.parametrize("fname,idx,name", [
    p for f in sorted(CASES_DIR.glob("*.yml")) for p in _cases("cases/" + f.name)])
def test_gateway_cases(fname, idx, name):
    """Our own cases (tests/spf/cases/*.yml): adding a case is adding YAML."""
    _check(fname, idx, name)


def _scenario_ids(fname):
    path = _path(fname)
    if not path.exists():
        return []
    return [pytest.param(fname, idx, id=f"{idx}") for idx, *_ in spf_suite.load(path)]


@pytest.mark.parametrize("fname,idx", _scenario_ids("rfc7208-tests.yml"))
def test_rfc7208_all_at_once(fname, idx):
    """Every case of a scenario started at once on one resolver: the checks'
    queries interleave, join each other's flights and fill the cache while
    others wait. The outcomes must be those of the one-at-a-time run."""
    assert DRIVER.exists(), f"{DRIVER} is not built"
    zonedata, tests = _scenarios(fname)[idx]
    out = spf_suite.run_scenario(DRIVER, zonedata, tests, extra_args=("--parallel",))
    problems = {name: spf_suite.verdict(case, out.get(name, {}))
                for name, case in tests.items()}
    assert {n: p for n, p in problems.items() if p} == {}
