"""`python -m localdss`: run a plugin component on local files. Exit 0 ok, 1 component failed, 2 bad config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from localdss import api
from localdss.config import Preset
from localdss.errors import EXIT_CONFIG_ERROR, ConfigError

PRESET_HELP = (
    "NAME=FILE: FILE (JSON object) holds the values of the preset given to the component's PRESET param "
    "NAME; CREDENTIAL_REQUEST params take the per-user value under their own name "
    '(SINGLE_FIELD/OAUTH2: a string; BASIC: {"user": ..., "password": ...})'
)


def _pairs(items: Optional[list[str]], option: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{option} expects NAME=VALUE, got {item!r}")
        out.setdefault(name, []).append(value)
    return out


def _single(pairs: dict[str, list[str]], option: str) -> dict[str, str]:
    for name, values in pairs.items():
        if len(values) > 1:
            raise ConfigError(f"{option} {name}=... is given {len(values)} times")
    return {name: values[0] for name, values in pairs.items()}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("component_id", help="the component's folder name")
    parser.add_argument("--config", type=Path, help="JSON object of the component's param values (default {})")
    parser.add_argument("--preset", action="append", metavar="NAME=FILE", help=PRESET_HELP)
    parser.add_argument("--preset-level", action="append", metavar="NAME=LEVEL",
                        help="where the preset of PRESET param NAME is defined: instance (default) or project")
    parser.add_argument("--plugin-root", type=Path, help="plugin directory (default: the repo root)")
    parser.add_argument("--plugin-config", type=Path, help="JSON object of plugin.json's admin-level params")
    parser.add_argument("--timeout", type=float, help="kill the component after this many seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localdss", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    recipe = sub.add_parser("recipe", help="run custom-recipes/<id>/recipe.py")
    _common(recipe)
    recipe.add_argument("--input", action="append", metavar="ROLE=PATH", help="input dataset (.csv/.parquet)")
    recipe.add_argument("--output", action="append", metavar="ROLE=PATH", help="output dataset (.csv/.parquet)")
    recipe.add_argument("--folder", action="append", metavar="ROLE=DIR", help="managed folder (input or output role)")
    recipe.add_argument("--partitioning", action="append", metavar="ROLE=DIM[,DIM]",
                        help="the role's partition dimensions (a partitioned dataset is a directory)")
    recipe.add_argument("--partition", help="the output partition this activity builds (values joined by |)")
    recipe.add_argument("--read-partitions", action="append", metavar="ROLE=ID[,ID]",
                        help="partitions a partitioned input reads (default: --partition)")
    recipe.add_argument("--container", choices=["no-path", "missing-path"],
                        help="containerized execution: Folder.get_path() raises / returns a missing path")

    connector = sub.add_parser("connector", help="read python-connectors/<id> into a file")
    _common(connector)
    connector.add_argument("--output", type=Path, required=True, help="OUT.csv or OUT.parquet")
    connector.add_argument("--limit", type=int, help="records_limit: read at most N rows")

    macro = sub.add_parser("macro", help="run python-runnables/<id>")
    _common(macro)
    macro.add_argument("--output", type=Path, help="where to save the result (default: stdout)")

    llm = sub.add_parser("llm", help="query python-llms/<id>; prints one JSON result per line")
    _common(llm)
    llm.add_argument("--query", type=Path, required=True, help="JSON query file")
    llm.add_argument("--settings", type=Path, help="JSON completion settings file")
    llm.add_argument("--stream", action="store_true", help="iterate process_stream")
    llm.add_argument("--trace", type=Path, help="save the trace (to_dict) as JSON here")

    listing = sub.add_parser("list", help="list the plugin's components")
    listing.add_argument("--plugin-root", type=Path)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for kind, ids in api.list_components(args.plugin_root).items():
                print(f"{kind}: {', '.join(ids) or '-'}")
            return 0
        files = _single(_pairs(args.preset, "--preset"), "--preset")
        levels = _single(_pairs(args.preset_level, "--preset-level"), "--preset-level")
        if set(levels) - set(files):
            raise ConfigError(f"--preset-level {sorted(set(levels) - set(files))[0]}=... has no --preset")
        presets = {name: Preset(path, level=levels.get(name, "instance")) for name, path in files.items()}
        common = {"config": args.config, "presets": presets, "plugin_root": args.plugin_root,
                  "plugin_config": args.plugin_config, "capture": False, "timeout": args.timeout}
        if args.command == "recipe":
            reads = {role: ids.split(",") for role, ids in _single(_pairs(args.read_partitions,
                                                                                  "--read-partitions"),
                                                                           "--read-partitions").items()}
            done = api.run_recipe(args.component_id, inputs=_pairs(args.input, "--input"),
                                  outputs=_pairs(args.output, "--output"), folders=_pairs(args.folder, "--folder"),
                                  partitioning=_single(_pairs(args.partitioning, "--partitioning"), "--partitioning"),
                                  partition=args.partition, read_partitions=reads, container=args.container,
                                  **common)
        elif args.command == "connector":
            done = api.run_connector(args.component_id, output=args.output, limit=args.limit, **common)
        elif args.command == "macro":
            done = api.run_macro(args.component_id, output=args.output, **common)
        else:
            done = api.run_llm(args.component_id, query=args.query, settings=args.settings, stream=args.stream,
                               trace_file=args.trace, **common)
    except ConfigError as exc:
        print(f"localdss: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return done.returncode
