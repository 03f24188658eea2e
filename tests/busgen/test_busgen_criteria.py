"""Every branch of the busgen scaffold's judge C1 (criteria.py), on synthetic numbers."""
from tasks.busgen import criteria


def test_c1_pass_fail_and_gate():
    v = criteria.c1(980, 1000, 0.1)
    assert v.verdict == "PASS" and v.gates_pass
    v = criteria.c1(600, 1000, 0.1)
    assert v.verdict == "FAIL" and not v.checks["accuracy >= 0.9"]
    v = criteria.c1(980, 1000, 0.9)
    assert v.verdict == "INCONCLUSIVE" and not v.gates[0].passed
