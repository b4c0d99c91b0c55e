"""tools/mutation.py: the score line of `make mutation`, from mutmut's results and the equivalent list."""

import json

import pytest

from tools import mutation


@pytest.fixture()
def results(tmp_path, monkeypatch):
    """Writes mutmut-style .meta files under a temporary mutants/ and points the tool at it."""
    monkeypatch.setattr(mutation, "MUTANTS", str(tmp_path / "mutants"))
    monkeypatch.setattr(mutation, "STAGE", str(tmp_path))

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


def test_a_sample_is_uniform_reproducible_and_its_score_says_it_is_an_estimate(results, tmp_path, capsys):
    names = [f"openai_compatible.store.x_f__mutmut_{i}" for i in range(1, 41)]
    # mutants 1-30 killed, 31-40 survived; plus modules outside the selection or skipped
    results("store.py", {name: (1 if i < 30 else 0) for i, name in enumerate(names)})
    results("http/send.py", {"openai_compatible.http.send.x_g__mutmut_1": 0})
    results("sse.py", {"openai_compatible.sse.x_h__mutmut_1": 0})
    drawn = mutation.draw_sample(names, 10, seed=7)
    assert drawn == mutation.draw_sample(list(reversed(names)), 10, seed=7)  # the seed alone decides
    assert len(set(drawn)) == 10 and set(drawn) <= set(names)
    assert drawn != mutation.draw_sample(names, 10, seed=8)
    assert mutation.draw_sample(names, 100, seed=7) == sorted(names)  # a sample larger than all is all
    equivalent = tmp_path / "equivalent.md"
    equivalent.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mutation, "EQUIVALENT_LIST", str(equivalent))
        assert mutation.report(mutation.module_names("store,http"), mutation.module_names("http/send"),
                               sample=(10, 7)) == 0
    out = capsys.readouterr().out.splitlines()
    killed = sum(1 for name in drawn if int(name.rsplit("_", 1)[1]) <= 30)
    assert out[-1].startswith(f"mutation score: {100 * killed // 10}% ({killed} of 10 non-equivalent mutants "
                              "killed; estimated from a random sample of 10 of 40 mutants, seed 7; 95% interval ")
    assert not any("http.send" in line or "sse" in line for line in out)
    assert sum(1 for line in out if line.endswith(": survived")) == 10 - killed


def test_the_interval_of_a_sampled_score_narrows_with_the_sample_and_stays_within_0_100():
    low, high = mutation._wilson_interval(90, 100)
    assert 82 < low < 90 < high < 95
    wide_low, wide_high = mutation._wilson_interval(9, 10)
    assert wide_low < low and wide_high > high
    assert mutation._wilson_interval(10, 10)[1] == pytest.approx(100) and mutation._wilson_interval(0, 10)[0] == 0


def test_a_sample_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        mutation.main(["report", "--sample", "0"])
    assert "--sample must be a positive number of mutants, not 0" in capsys.readouterr().err


def test_a_drawn_sample_is_kept_so_that_editing_a_module_does_not_change_it(results):
    names = [f"openai_compatible.store.x_f__mutmut_{i}" for i in range(1, 41)]
    modules = mutation.module_names("store")
    first, population = mutation.sampled_names(names, modules, None, 10, 3, draw=True)
    assert population == 40 and first == mutation.draw_sample(names, 10, 3)
    # the module was edited: it has 5 mutants fewer and 2 new ones; the sample stays, less the mutants gone
    edited = names[:35] + ["openai_compatible.store.x_g__mutmut_1", "openai_compatible.store.x_g__mutmut_2"]
    again, population = mutation.sampled_names(edited, modules, None, 10, 3, draw=True)
    assert population == 40 and again == [n for n in first if n in set(edited)]
    # another size, seed or selection is another sample
    assert mutation.sampled_names(edited, modules, None, 10, 4, draw=True)[1] == 37
