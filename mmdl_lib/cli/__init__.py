"""The ``mmdl`` command line: run a chapter, build the book, show the environment, write synthetic data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from ..config import PROFILE_NAMES
from ..errors import ConfigError, MMDLError


def parse_value(text: str) -> Any:
    """``-p epochs 3`` → 3, ``-p lr 1e-3`` → 0.001, ``-p data_root null`` → None (as papermill's -y).

    Numbers are read the way a user types them: YAML alone would keep ``1e-3`` a string.
    """
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            continue
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _cmd_run(args: argparse.Namespace) -> int:
    from ..book.notebooks import execute, rehearsal_output_path, resolve_notebook

    notebook = resolve_notebook(args.notebook)
    params = {name: parse_value(value) for name, value in args.parameter}
    if args.profile:
        params["profile"] = args.profile
    output = Path(args.output) if args.output else None
    if args.rehearse:
        if params.setdefault("profile", "full") != "full":
            raise ConfigError("--rehearse rehearses the full profile: drop --profile smoke")
        params["rehearse"] = True
        output = output or rehearsal_output_path(notebook)
    result = execute(notebook, params, output=output)
    print(f"executed {notebook.name} -> {result.output}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from ..book.site import build_site

    build_site(profile=args.profile or "smoke", force=args.force)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from ..env import environment, environment_report

    if args.json:
        import json

        print(json.dumps(environment(), indent=1))
    else:
        print(environment_report())
    return 0


def _cmd_chapters(args: argparse.Namespace) -> int:
    from ..book.chapters import readme_table

    print(readme_table())
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from ..synth import FORMATS, write_synthetic

    formats = list(FORMATS) if args.format == "all" else [args.format]
    for fmt in formats:
        out = write_synthetic(fmt, Path(args.out), preset=args.preset, seed=args.seed)
        print(f"{fmt}: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ..synth import FORMATS, PRESETS

    parser = argparse.ArgumentParser(prog="mmdl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one chapter with papermill into build/executed/")
    run.add_argument("notebook", help="e.g. 02, 02_talk2car_finetune or notebooks/02_talk2car_finetune.ipynb")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    run.add_argument("--profile", choices=PROFILE_NAMES)
    run.add_argument("-o", "--output", help="write the executed notebook here instead of build/executed/")
    run.add_argument("--rehearse", action="store_true",
                     help="the full profile on this CPU: random weights, a few real-size synthetic samples, "
                          "one or two steps (executed into build/rehearsal/)")
    run.set_defaults(func=_cmd_run)

    book = sub.add_parser("book", help="execute every chapter of the registry (unchanged ones are kept) and build "
                                       "the site")
    book.add_argument("--profile", choices=PROFILE_NAMES)
    book.add_argument("--force", action="store_true", help="re-execute every chapter")
    book.set_defaults(func=_cmd_book)

    env = sub.add_parser("env", help="versions, device, CPU/GPU and git sha")
    env.add_argument("--json", action="store_true")
    env.set_defaults(func=_cmd_env)

    chapters = sub.add_parser("chapters", help="the chapter registry (notebooks/*.meta.yml) as the README's table")
    chapters.set_defaults(func=_cmd_chapters)

    synth = sub.add_parser("synth", help="write the synthetic driving world in a dataset's real format")
    synth.add_argument("--format", default="all", choices=["all", *FORMATS])
    synth.add_argument("--preset", default="tiny", choices=list(PRESETS))
    synth.add_argument("--out", required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_cmd_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MMDLError as e:
        print(f"mmdl: error: {e}", file=sys.stderr)
        return 1
