"""tools/mutation.py: the score line of `make mutation`, from mutmut's results and the equivalent list."""

import json

import pytest

from tools import mutation


@pytest.fixture()
def results(tmp_path, monkeypatch):
    """Writes mutmut-style .meta files under a temporary mutants/ and points the tool at it."""
    monkeypatch.setattr(mutation, "MUTANTS", str(tmp_path / "mutants"))

    def write(path, exit_codes):
        meta = tmp_path / "mutants" / "src" / "openai_compatible" / (path + ".meta")
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"exit_code_by_key": exit_codes}))
    return write


def test_the_score_leaves_out_equivalent_and_unrun_mutants(results, tmp_path, capsys):
    results("sse.py", {"openai_compatible.sse.x_f__mutmut_1": 1, "openai_compatible.sse.x_f__mutmut_2": 0,
                       "openai_compatible.sse.x_f__mutmut_3": 0, "openai_compatible.sse.x_f__mutmut_4": 36,
                       "openai_compatible.sse.x_f__mutmut_5": None})
    results("http/send.py", {"openai_compatible.http.send.x\u01c1Sender\u01c1send__mutmut_1": 33})
    equivalent = tmp_path / "equivalent.md"
    equivalent.write_text("- `openai_compatible.sse.x_f__mutmut_3`: the same codec.\n"
                          "- `openai_compatible.sse.x_f__mutmut_9`, `openai_compatible.sse.x_f__mutmut_8`: why\n")
    assert mutation.read_equivalents(str(equivalent)) == {"openai_compatible.sse.x_f__mutmut_3",
                                                          "openai_compatible.sse.x_f__mutmut_8",
                                                          "openai_compatible.sse.x_f__mutmut_9"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mutation, "EQUIVALENT_LIST", str(equivalent))
        assert mutation.report([]) == 0
        out = capsys.readouterr().out.splitlines()
        # killed and timeout count as killed; a survivor and a mutant no test reaches do not
        assert out[-1] == "mutation score: 50% (2 of 4 non-equivalent mutants killed)"
        assert "    openai_compatible.sse.x_f__mutmut_2: survived" in out
        assert "    openai_compatible.http.send.x\u01c1Sender\u01c1send__mutmut_1: no tests" in out
        assert "    sse: 4 of 5" in out and "    http.send: 1 of 1" in out
        assert mutation.report(mutation.module_names("http")) == 0
        assert capsys.readouterr().out.splitlines()[-1] == (
            "mutation score: 0% (0 of 1 non-equivalent mutants killed)")


def test_nothing_measured_is_said_and_fails(results, capsys):
    assert mutation.report(mutation.module_names("retry")) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "mutation score: n/a (0 of 0 non-equivalent mutants killed)"
