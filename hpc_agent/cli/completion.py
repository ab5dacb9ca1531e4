"""``hpc-agent completion bash|zsh``: a shell completion script generated from the parser.

argparse has no completion of its own (and ``argcomplete`` is not in the
standard library), so the script is written from :func:`hpc_agent.cli.build_parser`:
it can never list a command or option that does not exist. Registered
instance names are read by the shell from the registry folder itself, so a
completion starts no Python.
"""

from __future__ import annotations

import argparse
from typing import Any

from hpc_agent.cli.common import add_format_options, add_parser, emit, example
from hpc_agent.exitcodes import ExitCode

SHELLS = ("bash", "zsh")


def add_completion(sub: Any) -> None:
    """Add ``completion`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "completion",
        help="Print a shell completion script (bash or zsh).",
        description="Print a script that completes hpc-agent's commands, their options and "
        "the registered instance names. To have it in every new bash, add this line to "
        "~/.bashrc:\n\n"
        '  eval "$(hpc-agent completion bash)"\n\n'
        "and for zsh this one to ~/.zshrc:\n\n"
        '  eval "$(hpc-agent completion zsh)"',
        epilog=example(
            "hpc-agent completion bash > ~/.local/share/bash-completion/completions/hpc-agent"
        ),
    )
    p.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash or zsh")
    add_format_options(p)
    p.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell`` (under -F json: shell and script)."""
    from hpc_agent.cli import build_parser

    text = script(build_parser(), args.shell)
    emit({"shell": args.shell, "script": text}, args, lambda: text)
    return ExitCode.OK


class Command:
    """What the script needs to know of one command (``status``, ``function list``).

    A plain class, not a dataclass: this module is imported for every
    ``hpc-agent --help``, and dataclasses would add to its start-up.
    """

    def __init__(self) -> None:
        self.options: list[str] = []
        self.values: dict[str, list[str]] = {}
        """Options that take a value -> the value's choices (empty: complete file names)."""
        self.positionals: list[str] = []
        """Per positional: ``@instance``, ``@file`` or the choices, space-separated."""
        self.subcommands: list[str] = []


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, Command]:
    """Every command path of ``parser`` (``""`` for the top level) and what it takes."""
    found: dict[str, Command] = {}
    here = Command()
    found[prefix] = here
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                here.subcommands.append(name)
                found.update(commands(child, f"{prefix} {name}".strip()))
        elif action.option_strings:
            here.options.extend(action.option_strings)
            if action.nargs != 0:
                choices = " ".join(str(c) for c in action.choices or ())
                for option in action.option_strings:
                    here.values[option] = choices.split()
        elif action.choices:
            here.positionals.append(" ".join(str(c) for c in action.choices))
        else:
            here.positionals.append("@instance" if action.metavar == "INSTANCE" else "@file")
    return found


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (bash, or zsh through its bashcompinit)."""
    table = commands(parser)
    groups = " ".join(path for path, cmd in table.items() if path and cmd.subcommands)
    takes_value, option_values, positional, options, subcommands = [], [], [], [], []
    for path, cmd in table.items():
        for option, choices in cmd.values.items():
            takes_value.append(f'        "{path}|{option}") return 0 ;;')
            if choices:
                option_values.append(f'        "{path}|{option}") echo "{" ".join(choices)}" ;;')
        for index, kind in enumerate(cmd.positionals):
            positional.append(f'        "{path}|{index}") echo "{kind}" ;;')
        options.append(f'        "{path}") echo "{" ".join(cmd.options)}" ;;')
        if cmd.subcommands:
            subcommands.append(f'        "{path}") echo "{" ".join(cmd.subcommands)}" ;;')
    body = _BASH.format(
        groups=groups,
        takes_value="\n".join(takes_value),
        option_values="\n".join(option_values),
        positional="\n".join(positional),
        options="\n".join(options),
        subcommands="\n".join(subcommands),
    )
    if shell == "zsh":
        # zsh runs bash completion functions through bashcompinit (0-based arrays there).
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


_BASH = """\
# hpc-agent completion for bash (generated by `hpc-agent completion bash`).
# Add to ~/.bashrc:  eval "$(hpc-agent completion bash)"

_hpc_agent_takes_value() {{
    case "$1|$2" in
{takes_value}
    esac
    return 1
}}

_hpc_agent_option_values() {{
    case "$1|$2" in
{option_values}
    esac
}}

_hpc_agent_positional() {{
    case "$1|$2" in
{positional}
    esac
}}

_hpc_agent_options() {{
    case "$1" in
{options}
    esac
}}

_hpc_agent_subcommands() {{
    case "$1" in
{subcommands}
    esac
}}

_hpc_agent_instances() {{
    # The registry hpc-agent setup writes: $XDG_CONFIG_HOME/flowcron/NAME.toml.
    local dir="$HOME/.config/flowcron" entry
    [[ "$XDG_CONFIG_HOME" == /* ]] && dir="$XDG_CONFIG_HOME/flowcron"
    for entry in "$dir"/*.toml; do
        [[ -e "$entry" ]] || continue
        entry="${{entry##*/}}"
        echo "${{entry%.toml}}"
    done
}}

_hpc_agent() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmd="" npos=0 skip=0 i w words
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        if ((skip)); then skip=0; continue; fi
        if [[ "$w" == -* ]]; then
            _hpc_agent_takes_value "$cmd" "$w" && skip=1
            continue
        fi
        if [[ -z "$cmd" ]]; then
            cmd="$w"
        elif [[ " {groups} " == *" $cmd "* ]]; then
            cmd="$cmd $w"
        else
            npos=$((npos + 1))
        fi
    done
    COMPREPLY=()
    if [[ "$cur" != -* ]] && _hpc_agent_takes_value "$cmd" "$prev"; then
        words="$(_hpc_agent_option_values "$cmd" "$prev")"
        if [[ -n "$words" ]]; then
            COMPREPLY=($(compgen -W "$words" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        words="$(_hpc_agent_options "$cmd")"
    elif [[ -z "$cmd" || " {groups} " == *" $cmd "* ]]; then
        words="$(_hpc_agent_subcommands "$cmd")"
    else
        words="$(_hpc_agent_positional "$cmd" "$npos")"
        case "$words" in
            @instance) COMPREPLY=($(compgen -W "$(_hpc_agent_instances)" -- "$cur")
                       $(compgen -d -- "$cur")); return 0 ;;
            @file) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return 0
}}

complete -F _hpc_agent hpc-agent
"""
