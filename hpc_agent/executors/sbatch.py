"""The one reader of ``#SBATCH`` lines: the directive block, its options, and time limits.

Admission (which options the agent overrides) and the local executor (the
job's time limit) both read a script through this module, so they always see
the same options, and the ones sbatch sees. The rules follow sbatch itself
(Slurm 22.05 ``src/sbatch/opt.c``: ``_opt_batch_script``, ``get_argument``,
``_set_options``; the man page: "The batch script may contain options preceded
with "#SBATCH" before any executable commands in the script. sbatch will stop
processing further #SBATCH directives once the first non-comment
non-whitespace line has been reached"), and were checked against the
installed ``sbatch`` 22.05.8 by submitting each case and reading the job back:

- A directive is a line that starts, in its first column, with exactly
  ``#SBATCH`` (case-sensitive). ``  #SBATCH --time=1`` (indented) is a plain
  comment and is ignored. ``#SLURM``, the old spelling, is read the same way
  (sbatch complains but applies it).
- Lines are read from the top. Blank lines and comments (any line whose first
  non-blank character is ``#``, the ``#!`` line included) are skipped; the
  first other line ends the block, and ``#SBATCH`` lines after it are ignored.
- The text right after the magic word is split into words: blanks separate
  words; ``'...'`` and ``"..."`` group (the quotes are dropped, and may sit
  inside a word: ``--job-name="a b"c`` is ``a bc``); a backslash makes the next
  character literal (a quote or ``#``, also inside quotes) but does not keep a
  blank inside a word; an unquoted, unescaped ``#`` ends the line, even in the
  middle of a word (``--job-name=a#b`` is ``a``), and so does an empty word
  (``""``).
- ``#SBATCHX --time=1`` is a directive whose first word is ``X``, and
  ``#SBATCH--time=1`` one whose first word is ``--time=1``.
- The words of all directive lines form one argument list, parsed like
  sbatch's command line (``getopt_long``): ``--opt=value``, ``--opt value``
  (the next word, even from the next directive line, even if it starts with
  ``-``), ``-tvalue``, ``-t value``; ``-t=5`` gives ``=5``. Later options win,
  and the command line wins over the script. The first word that is neither
  an option nor an option's value (the ``X`` above) ends the options: sbatch
  refuses such a script ("Invalid directive found in batch script: X"), and
  nothing after it is taken here.

Not modelled (sbatch refuses these scripts; they are read leniently here): an
unmatched quote (an opening quote runs to the end of the line), a word that
starts with ``:``, abbreviated long options (getopt accepts ``--outp`` for
``--output``), and heterogeneous-job separators (``#SBATCH hetjob``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAGIC_WORDS = ("#SBATCH", "#SLURM")
"""What a directive line starts with, in its first column."""

# sbatch options that never take the next word as their value (no argument,
# or an optional one given only as --opt=value); every other option requires
# a value. Checked against sbatch 22.05.8.
_FLAG_LONG = frozenset(
    {
        "contiguous",
        "exclusive",
        "get-user-env",
        "help",
        "hold",
        "ignore-pbs",
        "nice",
        "no-kill",
        "no-requeue",
        "overcommit",
        "oversubscribe",
        "parsable",
        "propagate",
        "quiet",
        "reboot",
        "requeue",
        "spread-job",
        "test-only",
        "usage",
        "use-min-nodes",
        "verbose",
        "version",
        "wait",
    }
)
_FLAG_SHORT = frozenset("hHOQsuvVW")
_OPTIONAL_SHORT = frozenset("k")  # -k or -kVALUE, never -k VALUE

_UNLIMITED = frozenset({"unlimited", "infinite", "-1"})
TIME_OPTIONS = frozenset({"--time", "-t"})
"""The spellings of sbatch's time-limit option."""


@dataclass(frozen=True)
class Word:
    """One word of the directive block and the line it is on (0: the command line)."""

    line: int
    text: str


@dataclass(frozen=True)
class Option:
    """One sbatch option as written (``--output``, ``-o``), its value and its line."""

    line: int
    option: str
    value: str | None


# -- the directive block --------------------------------------------------------


def directive_lines(text: str) -> list[tuple[int, str]]:
    """The directive lines sbatch reads: (line number, text after ``#SBATCH``)."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        magic = next((word for word in MAGIC_WORDS if line.startswith(word)), None)
        if magic is not None:
            found.append((number, line[len(magic) :]))
            continue
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            break  # the first command: no directives after it
    return found


def split_words(rest: str) -> list[str]:
    """The words of one directive line's text after ``#SBATCH``, as sbatch splits them."""
    words: list[str] = []
    index, end = 0, len(rest)
    while True:
        while index < end and rest[index].isspace():
            index += 1
        if index >= end or rest[index] == "#":
            return words
        word, index = _next_word(rest, index)
        if not word:
            return words  # sbatch stops reading a line at an empty word ('""')
        words.append(word)


def _next_word(rest: str, index: int) -> tuple[str, int]:
    """The word starting at ``rest[index]`` (quotes and escapes removed) and where it ends."""
    end = len(rest)
    chars: list[str] = []
    quote = ""
    while index < end and (quote or not rest[index].isspace()):
        char = rest[index]
        index += 1
        if char == "\\":
            if index < end and (quote or not rest[index].isspace()):
                chars.append(rest[index])
                index += 1
        elif quote:
            if char == quote:
                quote = ""
            else:
                chars.append(char)
        elif char in "'\"":
            quote = char
        elif char == "#":
            index = end  # the rest of the line is a comment
        else:
            chars.append(char)
    return "".join(chars), index


def directive_words(text: str) -> list[Word]:
    """Every word of a script's directive block, in order, with its line number."""
    return [
        Word(number, word) for number, rest in directive_lines(text) for word in split_words(rest)
    ]


def sbatch_directives(script_text: str) -> list[str]:
    """The words of a script's ``#SBATCH`` lines, in order (see the module docstring)."""
    return [word.text for word in directive_words(script_text)]


# -- options ----------------------------------------------------------------------


def parse_options(words: Iterable[Word]) -> list[Option]:
    """The options in ``words``, read as sbatch's ``getopt_long`` reads its arguments.

    Stops at the first word that is neither an option nor an option's value.
    """
    pending = list(words)
    pending.reverse()
    found: list[Option] = []
    while pending:
        word = pending.pop()
        token = word.text
        if token.startswith("--") and len(token) > 2:
            name, eq, inline = token.partition("=")
            if eq:
                found.append(Option(word.line, name, inline))
            elif name[2:] in _FLAG_LONG:
                found.append(Option(word.line, name, None))
            else:
                found.append(Option(word.line, name, pending.pop().text if pending else None))
        elif token.startswith("-") and len(token) > 1 and token != "--":
            letters = token[1:]
            for position, letter in enumerate(letters):
                if letter in _FLAG_SHORT:
                    found.append(Option(word.line, "-" + letter, None))
                    continue
                value = letters[position + 1 :]
                if not value and letter in _OPTIONAL_SHORT:
                    found.append(Option(word.line, "-" + letter, None))
                    break
                if not value:
                    value = pending.pop().text if pending else ""
                found.append(Option(word.line, "-" + letter, value if value else None))
                break
        else:
            break  # not an option: sbatch refuses the script here
    return found


def script_options(script_text: str) -> list[Option]:
    """The sbatch options a script's ``#SBATCH`` lines give, in order."""
    return parse_options(directive_words(script_text))


def command_line_options(argv: Sequence[str]) -> list[Option]:
    """The options in a list of sbatch arguments (line 0: not from the script)."""
    return parse_options(Word(0, arg) for arg in argv)


# -- time limits ------------------------------------------------------------------


def parse_time_limit(text: str) -> int | None:
    """Seconds in a Slurm ``--time`` value; None for UNLIMITED/INFINITE/-1.

    Accepts every Slurm form: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``,
    ``D-H:M:S``. Raises ValueError for anything else.
    """
    value = text.strip()
    if value.lower() in _UNLIMITED:
        return None
    days_text, dash, clock = value.partition("-")
    if not dash:
        days_text, clock = "", value
    parts = clock.split(":")
    if not clock or not all(part.isdigit() for part in parts) or len(parts) > 3:
        raise ValueError(f"invalid time limit {text!r} (use M, M:S, H:M:S, D-H, D-H:M or D-H:M:S)")
    if dash and not days_text.isdigit():
        raise ValueError(f"invalid time limit {text!r}: the days before '-' must be a number")
    numbers = [int(part) for part in parts]
    if dash:
        # With days, the clock part is H, H:M or H:M:S.
        hours, minutes, seconds = [*numbers, 0, 0][:3]
        return ((int(days_text) * 24 + hours) * 60 + minutes) * 60 + seconds
    if len(numbers) == 1:
        return numbers[0] * 60
    if len(numbers) == 2:
        return numbers[0] * 60 + numbers[1]
    return (numbers[0] * 60 + numbers[1]) * 60 + numbers[2]


def job_time_limit(script_text: str, extra: Sequence[str] = ()) -> int | None:
    """The job's time limit in seconds: the command line's ``extra`` wins over ``#SBATCH`` lines.

    None when neither sets one, or when the last one is UNLIMITED. Raises
    ValueError for a value Slurm would refuse.
    """
    limit: int | None = None
    for option in [*script_options(script_text), *command_line_options(extra)]:
        if option.option in TIME_OPTIONS and option.value is not None:
            limit = parse_time_limit(option.value or "")
    return limit
