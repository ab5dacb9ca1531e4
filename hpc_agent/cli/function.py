"""An instance's published functions: ``hpc-agent function list|show|new|check|render|test|catalog``.

Each command is thin (parse, call :mod:`hpc_agent.functions.admin`, print)
and returns its exit code; what they raise is mapped by
:func:`hpc_agent.cli.classify`. docs/functions-admin.md is the admin's guide.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import (
    add_format_options,
    add_instance_argument,
    add_parser,
    colour,
    emit,
    example,
    to_json,
    wants_json,
)
from hpc_agent.exitcodes import ExitCode

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig
    from hpc_agent.functions.render import Rendered
    from hpc_agent.functions.spec import Library

# hpc_agent.functions.admin (and the configuration) are imported by each command
# when it runs: hpc-agent --help and the other commands need none of it.


def add_function(sub: Any) -> None:
    """Add ``function`` and its sub-commands to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "function",
        help="Write, check, test and publish an instance's functions.",
        description="Functions are job templates in <base>/Functions/<name>/ (function.toml "
        "and template.sh) that researchers call from a job.toml instead of writing a script. "
        "The admin's guide is docs/functions-admin.md.",
        epilog=example("hpc-agent function check p42"),
    )
    commands = p.add_subparsers(dest="function_command", required=True, metavar="COMMAND")
    _add_list(commands)
    _add_show(commands)
    _add_new(commands)
    _add_check(commands)
    _add_render(commands)
    _add_test(commands)
    _add_catalog(commands)


def _parser(
    commands: Any, name: str, text: str, description: str, usage_example: str
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = add_parser(
        commands, name, help=text, description=description, epilog=example(usage_example)
    )
    add_instance_argument(p)
    # Errors then read "hpc-agent function NAME: ..." (cli.error_message).
    p.set_defaults(command=f"function {name}")
    return p


def _add_list(commands: Any) -> None:
    p = _parser(
        commands,
        "list",
        "List the instance's functions, with version and description.",
        "List every folder of <base>/Functions: its version and description, or BROKEN and "
        "its first problem.",
        "hpc-agent function list p42 -F json",
    )
    add_format_options(p)
    p.set_defaults(func=cmd_list)


def _add_show(commands: Any) -> None:
    p = _parser(
        commands,
        "show",
        "Show one function: help, parameters, resources, site settings, files.",
        "Show a function as researchers will call it: description, help, each parameter "
        "(type, default, rules, help), the resources, the site settings and the SHA-256 of "
        "its files.",
        "hpc-agent function show p42 relion-class3d",
    )
    p.add_argument("name", metavar="NAME", help="the function's name")
    add_format_options(p)
    p.set_defaults(func=cmd_show)


def _add_new(commands: Any) -> None:
    p = _parser(
        commands,
        "new",
        "Create a function folder from a commented skeleton or a built-in.",
        "Create <base>/Functions/NAME/ with a commented function.toml and template.sh, or a "
        "copy of the built-in function BUILTIN (its name set to NAME). An existing folder is "
        "never overwritten.",
        "hpc-agent function new p42 my-class3d --from relion-class3d",
    )
    p.add_argument("name", metavar="NAME", help="the new function's name (and folder's)")
    p.add_argument("--from", dest="builtin", metavar="BUILTIN", help="copy this built-in")
    add_format_options(p)
    p.set_defaults(func=cmd_new)


def _add_check(commands: Any) -> None:
    p = _parser(
        commands,
        "check",
        "Check one function, or all of them; exit 1 on any problem.",
        "Check function folders as the agent reads them, with the line of each problem, and "
        "check the shell syntax (bash -n) of the template rendered with each parameter's "
        "default or an example value. Exits 0 when every function checked is fine, 1 "
        "otherwise.",
        "hpc-agent function check p42 relion-class3d",
    )
    p.add_argument("name", metavar="NAME", nargs="?", help="only this function")
    add_format_options(p)
    p.set_defaults(func=cmd_check)


def _add_call_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the function's name")
    p.add_argument(
        "--params",
        metavar="FILE",
        type=Path,
        required=True,
        help='a job.toml (function = "NAME" and [params]) or a file with only a [params] table',
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="the folder path parameters must exist in (default: data/ next to FILE if it "
        "exists; otherwise only their form is checked)",
    )


def _add_render(commands: Any) -> None:
    p = _parser(
        commands,
        "render",
        "Print the job script a call of a function would give.",
        "Check the call in FILE as the agent checks a UoW's job.toml and print the job script "
        "it would submit (stdout); problems go to stderr with exit code 1.",
        "hpc-agent function render p42 relion-class3d --params job.toml",
    )
    _add_call_arguments(p)
    add_format_options(p)
    p.set_defaults(func=cmd_render)


def _add_test(commands: Any) -> None:
    p = _parser(
        commands,
        "test",
        "Render a call and ask Slurm whether it would take the job (sbatch --test-only).",
        "Render the call in FILE, then run sbatch --test-only on the script with the "
        "instance's account and QoS, as the agent would submit it, and print Slurm's answer. "
        "Nothing is queued. Exits 1 when Slurm would refuse the job.",
        "hpc-agent function test p42 relion-class3d --params job.toml",
    )
    _add_call_arguments(p)
    add_format_options(p)
    p.set_defaults(func=cmd_test)


def _add_catalog(commands: Any) -> None:
    p = _parser(
        commands,
        "catalog",
        "Write the catalogue of the functions (JSON) for the user side.",
        "Write the instance's functions as one JSON document (no templates, no site settings) "
        "to stdout or FILE. Commit it as flows/<instance>.functions.json next to the flow "
        "config flows/<instance>.toml: flowgen uow new and flowgen uow check read it.",
        "hpc-agent function catalog p42 -o p42.functions.json",
    )
    p.add_argument("-o", "--output", metavar="FILE", type=Path, help="write here, not to stdout")
    add_format_options(p)
    p.set_defaults(func=cmd_catalog)


# -- the commands -----------------------------------------------------------------


def _note_policy(cfg: InstanceConfig, library: Library, command: str) -> None:
    from hpc_agent.functions import admin

    if note := admin.run_policy_note(cfg, library):
        print(f"hpc-agent {command}: note: {note}", file=sys.stderr)


def cmd_list(args: argparse.Namespace) -> int:
    """Print every function folder of the instance."""
    from hpc_agent.config import load_instance
    from hpc_agent.functions import admin

    cfg = load_instance(args.instance)
    library = admin.load(cfg)
    entries = admin.list_functions(library)
    emit(
        [entry.to_json() for entry in entries],
        args,
        lambda: admin.format_list(entries, admin.functions_dir(cfg)),
    )
    _note_policy(cfg, library, args.command)
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    """Print one function."""
    from hpc_agent.config import load_instance
    from hpc_agent.functions import admin

    cfg = load_instance(args.instance)
    info = admin.describe(cfg, admin.find(cfg, args.name))
    emit(info, args, lambda: admin.format_show(info))
    return ExitCode.OK


def cmd_new(args: argparse.Namespace) -> int:
    """Create a function folder and say what to do next."""
    from hpc_agent.config import load_instance
    from hpc_agent.functions import admin

    cfg = load_instance(args.instance)
    folder = admin.new_function(cfg, args.name, args.builtin)
    files = sorted(p.name for p in folder.iterdir())
    result = admin.check(cfg, args.name)[0]
    instance = cfg.name
    steps = [
        f"hpc-agent function check {instance} {args.name}",
        f"hpc-agent function render {instance} {args.name} --params job.toml",
        f"hpc-agent function test {instance} {args.name} --params job.toml",
        f"hpc-agent function catalog {instance} -o {admin.catalog_path_hint(cfg)}",
    ]
    document = {
        "instance": instance,
        "name": args.name,
        "folder": str(folder),
        "files": files,
        "origin": "builtin" if args.builtin else "skeleton",
        "builtin": args.builtin,
        "ok": result.ok,
        "problems": list(result.problems),
        "next": steps,
    }

    def text() -> str:
        origin = f"a copy of the built-in {args.builtin!r}" if args.builtin else "a skeleton"
        lines = [f"created {folder}/ ({', '.join(files)}): {origin}"]
        if not result.ok:
            lines.append(f"it does not pass the check yet ({len(result.problems)} problem(s)):")
            lines.extend(f"  {problem}" for problem in result.problems)
        lines.append(
            f"next: edit it, then run `{steps[0]}`, try a call with `{steps[1]}` and "
            f"`hpc-agent function test ...`, and publish it with `{steps[3]}`"
        )
        return "\n".join(lines) + "\n"

    emit(document, args, text)
    return ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    """Check one function or all; exit 1 when any has a problem."""
    from hpc_agent.config import load_instance
    from hpc_agent.functions import admin

    cfg = load_instance(args.instance)
    results = admin.check(cfg, args.name)
    emit(
        [result.to_json() for result in results],
        args,
        lambda: (
            admin.format_check(results, colour=colour())
            if results
            else f"no functions in {admin.functions_dir(cfg)}\n"
        ),
    )
    if args.name is None:
        _note_policy(cfg, admin.load(cfg), args.command)
    return ExitCode.OK if all(result.ok for result in results) else ExitCode.FAILED


def _rendered(args: argparse.Namespace, cfg: InstanceConfig) -> tuple[Rendered | None, Any]:
    """The rendered call of ``args`` (None after printing its problems on stderr), and its JSON.

    The JSON (for ``-F json``) says what was rendered from: the function, the
    params file, its parameters, the data folder, and the problems or the script.
    """
    from hpc_agent.functions import admin

    function = admin.find(cfg, args.name)
    params = admin.read_params_file(args.params)
    data_dir, note = admin.data_dir_for(args.params, args.data)
    if any(param.type == "path" for param in function.params):
        print(f"hpc-agent {args.command}: note: {note}", file=sys.stderr)
    rendered, problems = admin.render_call(function, params, data_dir)
    if rendered is None:
        for problem in problems:
            print(f"hpc-agent {args.command}: {problem}", file=sys.stderr)
    document = {
        "instance": cfg.name,
        "function": function.name,
        "version": function.version,
        "params_file": str(args.params),
        # TOML dates and times as text: JSON has none.
        "params": json.loads(json.dumps(params.params, default=str)),
        "data_dir": None if data_dir is None else str(data_dir),
        "ok": rendered is not None,
        "problems": problems,
        "resources": None if rendered is None else rendered.resources,
        "script": None if rendered is None else rendered.script,
    }
    return rendered, document


def cmd_render(args: argparse.Namespace) -> int:
    """Print the job script of a call (or its problems, exit 1)."""
    from hpc_agent.config import load_instance

    cfg = load_instance(args.instance)
    rendered, document = _rendered(args, cfg)
    if rendered is None:
        if wants_json(args):
            sys.stdout.write(to_json(document, args))
        return ExitCode.FAILED
    script = rendered.script
    emit(document, args, lambda: script)
    return ExitCode.OK


def cmd_test(args: argparse.Namespace) -> int:
    """Render a call and print Slurm's answer to sbatch --test-only (exit 1 when refused)."""
    from hpc_agent.config import load_instance
    from hpc_agent.functions import admin

    cfg = load_instance(args.instance)
    rendered, document = _rendered(args, cfg)
    if rendered is None:
        if wants_json(args):
            sys.stdout.write(to_json({**document, "slurm": None}, args))
        return ExitCode.FAILED
    data_dir, _ = admin.data_dir_for(args.params, args.data)
    workdir = data_dir.parent.resolve() if data_dir is not None else None
    answer = admin.sbatch_test_only(cfg, args.name, rendered, workdir)
    slurm = {"accepted": answer.accepted, "answer": answer.answer, "argv": list(answer.argv)}
    resources = rendered.resources

    def text() -> str:
        shown = ", ".join(f"{key}={value}" for key, value in resources.items())
        lines = [f"resources: {shown or 'none'}", f"Slurm: {answer.answer}"]
        if answer.accepted:
            lines.append("Slurm would take the job (nothing was queued).")
        return "\n".join(lines) + "\n"

    emit({**document, "slurm": slurm}, args, text)
    if not answer.accepted:
        print(f"hpc-agent {args.command}: Slurm would refuse the job", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK


def cmd_catalog(args: argparse.Namespace) -> int:
    """Write the catalogue to stdout or a file."""
    from hpc_agent.config import load_instance
    from hpc_agent.fs.atomicio import write_text_atomic
    from hpc_agent.functions import admin

    cfg = load_instance(args.instance)
    library = admin.load(cfg)
    text = admin.catalog_text(cfg, library)
    for name in sorted(library.broken):
        first = library.broken[name][0]
        print(
            f"hpc-agent {args.command}: left out the broken function {name!r} ({first}); "
            f"see `hpc-agent function check {cfg.name} {name}`",
            file=sys.stderr,
        )
    if args.output is None:
        # The catalogue is JSON already: -F json changes nothing unless --jmespath selects.
        sys.stdout.write(to_json(json.loads(text), args) if args.jmespath else text)
        return ExitCode.OK
    write_text_atomic(args.output, text)
    print(
        f"wrote {args.output} ({len(library.functions)} function(s)); commit it as "
        f"{admin.catalog_path_hint(cfg)} next to the flow config flows/{cfg.name}.toml",
        file=sys.stderr,
    )
    if wants_json(args):
        written = {
            "instance": cfg.name,
            "output": str(args.output),
            "functions": sorted(library.functions),
            "left_out": sorted(library.broken),
            "commit_as": admin.catalog_path_hint(cfg),
        }
        sys.stdout.write(to_json(written, args))
    return ExitCode.OK
