"""Mutation testing of the core modules with mutmut (`make mutation`; slow, so not in CI nor `make test`).

mutmut names a mutant after its file's path below the working directory, minus a leading ``src/``,
and the tests import ``openai_compatible.*``; so mutmut runs in ``.mutation/``, where ``src`` links to
``python-lib``. The configuration (modules, tests) is ``[tool.mutmut]`` in pyproject.toml.

    python tools/mutation.py run [--modules sse,retry] [--jobs N]   mutate, test, then report
    python tools/mutation.py report [--modules sse,retry]          report the last results again
    python tools/mutation.py run --sample 400 --seed 1 [--modules ...]   test a random sample only
    python tools/mutation.py report --sample 400 --seed 1 [--modules ...]  report that sample again
    python tools/mutation.py run --survivors [--sample 400 --seed 1]      rerun what is not killed yet

The report lists the surviving mutants (``.venv/bin/mutmut show NAME`` in ``.mutation/`` prints one's
diff) and ends with ``mutation score: NN% (K of N non-equivalent mutants killed)``. A full run takes hours
on two CPUs; ``--sample N --seed S`` tests a uniform random sample of N of the selected modules' mutants
(the same seed draws the same sample; the draw is kept in .mutation/, so that editing a module does not
change the sample being measured) and the score line then says it is estimated from that sample, with a
95% interval. Mutants reviewed as
equivalent (no test can tell them from the original) are listed, each with why, in
tests/mutation/equivalent.md, and are left out of N.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import re
import subprocess
import sys
from typing import Dict, List, Optional, Set, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE = os.path.join(REPO_ROOT, ".mutation")
MUTANTS = os.path.join(STAGE, "mutants")
EQUIVALENT_LIST = os.path.join(REPO_ROOT, "tests", "mutation", "equivalent.md")

# What the tests read besides the package: linked, not copied (mutmut mutates only the package).
_LINKED_INTO_MUTANTS = ("tests", "tools", "localdss", "plugin.json", "parameter-sets", "custom-recipes",
                        "python-connectors", "python-runnables", "python-llms", "resource", "code-env",
                        "examples", "README.md", "CHANGELOG.md", "Makefile", "requirements-dev.txt")

# mutmut's exit codes (mutmut/stats.py): a timeout or a crash of the mutated code is a kill.
_KILLED = {"killed", "timeout", "caught by type check", "segfault"}
_STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
                        35: "suspicious", 36: "timeout", 37: "caught by type check", 24: "timeout",
                        -24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
                        2: "interrupted"}

_MUTANT_NAME = re.compile(r"`(openai_compatible\.[^`]+__mutmut_\d+)`")


def _link(target: str, link: str) -> None:
    if os.path.islink(link) and os.readlink(link) == target:
        return
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(target, link)


def prepare_stage() -> None:
    """Lays out .mutation/: src -> python-lib and pyproject.toml for mutmut; in mutants/, the tests' files."""
    os.makedirs(MUTANTS, exist_ok=True)
    _link(os.path.join(REPO_ROOT, "python-lib"), os.path.join(STAGE, "src"))
    _link(os.path.join(REPO_ROOT, "pyproject.toml"), os.path.join(STAGE, "pyproject.toml"))
    for name in _LINKED_INTO_MUTANTS:
        _link(os.path.join(REPO_ROOT, name), os.path.join(MUTANTS, name))
    # the conftests, localdss and a few tests find the package at <root>/python-lib: the mutated copy
    _link("src", os.path.join(MUTANTS, "python-lib"))


def module_names(modules_arg: Optional[str]) -> List[str]:
    """Dotted names of the modules asked for (``sse,http`` -> openai_compatible.sse, openai_compatible.http)."""
    if not modules_arg:
        return []
    return ["openai_compatible." + m.strip().replace("/", ".").removesuffix(".py")
            for m in modules_arg.split(",") if m.strip()]


def _in_modules(mutant: str, modules: List[str]) -> bool:
    return not modules or any(mutant == m or mutant.startswith(m + ".") for m in modules)


def _module_of(mutant: str) -> str:
    """``openai_compatible.http.send.xǁSenderǁsend__mutmut_1`` -> ``openai_compatible.http.send``."""
    parts = mutant.split(".")
    for i, part in enumerate(parts):
        if part.startswith(("x_", "x\u01c1")):
            return ".".join(parts[:i])
    return mutant.rsplit(".", 1)[0]


def read_results() -> Dict[str, str]:
    """Mutant name -> status, from mutmut's .meta files (empty when nothing has run)."""
    statuses: Dict[str, str] = {}
    for meta_path in glob.glob(os.path.join(MUTANTS, "src", "**", "*.py.meta"), recursive=True):
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
        for name, code in meta.get("exit_code_by_key", {}).items():
            statuses[name] = "not checked" if code is None else _STATUS_BY_EXIT_CODE.get(code, "suspicious")
    return statuses


def read_equivalents(path: Optional[str] = None) -> Set[str]:
    """Names of the mutants reviewed as equivalent: ``- `openai_compatible.x.x_f__mutmut_3`, `...`: why``."""
    path = path or EQUIVALENT_LIST
    if not os.path.exists(path):
        return set()
    names: Set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.lstrip().startswith("- "):
                names.update(_MUTANT_NAME.findall(line.split("`:", 1)[0] + "`"))
    return names


def _wilson_interval(killed: int, counted: int) -> Tuple[float, float]:
    """95% Wilson score interval of a proportion, in percent: sound for small samples and for 0% or 100%."""
    z = 1.959964
    share = killed / counted
    centre = (share + z * z / (2 * counted)) / (1 + z * z / counted)
    half = z * math.sqrt(share * (1 - share) / counted + z * z / (4 * counted * counted)) / (1 + z * z / counted)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def draw_sample(names: List[str], size: int, seed: int) -> List[str]:
    """A uniform random sample of ``size`` of the mutant names (all when fewer); the same seed, the same draw."""
    ordered = sorted(names)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))


def _sample_path(modules: List[str], skipped: Optional[List[str]], size: int, seed: int) -> str:
    selection = ",".join(sorted(modules)) or "all"
    if skipped:
        selection += "-minus-" + ",".join(sorted(skipped))
    name = re.sub(r"[^A-Za-z0-9,._-]", "_", f"sample-{size}-seed{seed}-{selection.replace('openai_compatible.', '')}")
    return os.path.join(STAGE, name[:200] + ".json")


def sampled_names(names: List[str], modules: List[str], skipped: Optional[List[str]], size: int, seed: int,
                  draw: bool) -> Tuple[List[str], int]:
    """The sample's mutant names and the population it was drawn from.

    The first draw is saved in .mutation/: editing a module renumbers its mutants and changes the
    population, and the sample must stay the one measured (its tests are rerun, not a new sample). A
    saved name that no longer exists is left out. Without a saved sample, ``draw`` draws one (else none).
    """
    path = _sample_path(modules, skipped, size, seed)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
        existing = set(names)
        return [n for n in saved["names"] if n in existing], saved["population"]
    if not draw:
        return draw_sample(names, size, seed), len(names)
    drawn = draw_sample(names, size, seed)
    os.makedirs(STAGE, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"size": size, "seed": seed, "population": len(names), "names": drawn}, handle, indent=0)
    return drawn, len(names)


def _selected(statuses: Dict[str, str], modules: List[str], skipped: Optional[List[str]]) -> Dict[str, str]:
    return {k: v for k, v in statuses.items()
            if _in_modules(k, modules) and not (skipped and any(_in_modules(k, [m]) for m in skipped))}


def report(modules: List[str], skipped: Optional[List[str]] = None, sample: Optional[Tuple[int, int]] = None) -> int:
    """Prints the survivors and the score line; returns 1 when nothing was measured.

    ``skipped`` modules are left out; ``sample`` (size, seed) restricts the report to that random sample
    of the selected modules' mutants, and the score line says so."""
    statuses = _selected(read_results(), modules, skipped)
    population = len(statuses)
    if sample:
        names, population = sampled_names(list(statuses), modules, skipped, *sample, draw=False)
        drawn = set(names)
        statuses = {k: v for k, v in statuses.items() if k in drawn}
    equivalents = read_equivalents()
    checked = {k: v for k, v in statuses.items() if v != "not checked"}
    measured = sorted({_module_of(k) for k in checked})
    counted = {k: v for k, v in checked.items() if k not in equivalents}
    killed = sorted(k for k, v in counted.items() if v in _KILLED)
    alive = sorted(k for k, v in counted.items() if v not in _KILLED)
    print("modules measured (mutants run of all" + (" in the sample):" if sample else "):"))
    for module in measured:
        run_here = sum(1 for k in checked if _module_of(k) == module)
        total = sum(1 for k in statuses if _module_of(k) == module)
        print(f"    {module.removeprefix('openai_compatible.')}: {run_here} of {total}")
    not_checked = len(statuses) - len(checked)
    if not_checked:
        print(f"{not_checked} mutants not run yet (left out of the score)")
    print(f"equivalent (tests/mutation/equivalent.md): {len(set(checked) & equivalents)}")
    timeouts = sorted(k for k, v in counted.items() if v == "timeout")
    if timeouts:
        print(f"timeouts (counted as killed; a mutant run alone that still times out is a real one): {len(timeouts)}")
        for name in timeouts:
            print(f"    {name}")
    print(f"surviving mutants: {len(alive)}")
    for name in alive:
        print(f"    {name}: {counted[name]}")
    if not counted:
        print("mutation score: n/a (0 of 0 non-equivalent mutants killed)")
        return 1
    line = (f"mutation score: {100 * len(killed) // len(counted)}% ({len(killed)} of {len(counted)} "
            "non-equivalent mutants killed")
    if sample:
        low, high = _wilson_interval(len(killed), len(counted))
        line += (f"; estimated from a random sample of {len(statuses)} of {population} mutants, seed {sample[1]}; "
                 f"95% interval {math.floor(low)}-{math.ceil(high)}%")
    print(line + ")")
    return 0


# mutmut 3 has no "generate only" command: its own first steps, to learn every mutant's name before a sample.
_GENERATE = ("import sys\n"
             "from mutmut.__main__ import copy_src_dir, copy_also_copy_files, setup_source_paths, create_mutants\n"
             "from mutmut.mutation.trampoline import set_mutant_under_test\n"
             "set_mutant_under_test('mutant_generation')\n"
             "copy_src_dir(); copy_also_copy_files(); setup_source_paths(); create_mutants(int(sys.argv[1]))\n")


def run(modules: List[str], jobs: int, skipped: Optional[List[str]] = None,
        sample: Optional[Tuple[int, int]] = None, survivors: bool = False) -> int:
    """Runs mutmut on the modules (all core modules when none; all their mutants, or a random sample), then
    reports. ``survivors``: only the mutants not killed yet (survived, untested, timed out or not run, but not
    the reviewed equivalents), each rerun whatever its last verdict (a timeout rerun alone shows whether it
    was real)."""
    prepare_stage()
    mutmut = os.path.join(os.path.dirname(sys.executable), "mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the tests must import the mutated copy
    if sample or skipped or survivors:
        code = subprocess.call([sys.executable, "-c", _GENERATE, str(jobs)], cwd=STAGE, env=env,
                               stdout=subprocess.DEVNULL)
        if code != 0:
            print(f"mutmut could not generate the mutants (exit code {code})", file=sys.stderr)
            return code
        statuses = _selected(read_results(), modules, skipped)
        names = list(statuses)
        if sample:
            names, _ = sampled_names(names, modules, skipped, *sample, draw=True)
        if survivors:  # reviewed equivalents stay as they are
            equivalents = read_equivalents()
            names = [n for n in names if (statuses[n] not in _KILLED or statuses[n] == "timeout")
                     and n not in equivalents]
        if not names:
            print("no mutant to run")
            return report(modules, skipped, sample)
    else:
        names = [m + ".*" for m in modules]
    code = subprocess.call([mutmut, "run", "--max-children", str(jobs), *names], cwd=STAGE, env=env)
    if code != 0:
        print(f"mutmut run exited with {code}", file=sys.stderr)
    return report(modules, skipped, sample) or code


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "report"])
    parser.add_argument("--modules", help="comma-separated modules below openai_compatible (default: all core)")
    parser.add_argument("--skip", help="comma-separated modules to leave out (for example http/send)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--sample", type=int, help="test a uniform random sample of this many mutants only")
    parser.add_argument("--seed", type=int, default=1, help="the sample's random seed (default 1)")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun only the mutants not killed yet (after adding tests), timeouts included")
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error(f"--sample must be a positive number of mutants, not {args.sample}")
    modules = module_names(args.modules)
    skipped = module_names(args.skip)
    sample = (args.sample, args.seed) if args.sample else None
    if args.command == "run":
        return run(modules, args.jobs, skipped, sample, args.survivors)
    return report(modules, skipped, sample)


if __name__ == "__main__":
    sys.exit(main())
