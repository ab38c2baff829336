"""A quick yes for the usual A3M: the one the model's parser (phonos_models.alphafold2.msa.parse_a3m) accepts.

That parser is pure Python per line and per record: a 50M-character A3M of 22-residue rows took 8.4 s in a
submission-text thread, holding the GIL, and everyone else's calls waited ~10x longer meanwhile (p50 0.7 -> 6-8 ms).
Most A3Ms are written one way (ColabFold's, hhblits', ours, after any '#' lines at the top): a '>' header line, then
the row on one line of letters and '-'. Such a text is checked here with whole-block string operations that run in C, a block
of about `BLOCK_CHARS` at a time so the GIL is handed on between them (0.4-0.6 s for those 50M characters).

`accepts` says yes only for a text the parser accepts (and then nothing else is needed); "no" means "not proven
here", never "refused": the caller then runs the parser, whose answer (and message) stays the only refusal.
"""

from __future__ import annotations

BLOCK_CHARS = 64 * 1024
# What str.splitlines (the parser's) ends a line at besides '\n': a header line holding one is two lines there.
# The non-ASCII ones (U+0085, U+2028, U+2029) are ruled out by asking for ASCII text.
_OTHER_LINE_ENDS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_LOWER = bytes(range(ord("a"), ord("z") + 1))
_ROW_BYTES = bytes(range(ord("A"), ord("Z") + 1)) + _LOWER + b"-\n"


def accepts(text: str, query: str) -> bool:
    """True when `parse_a3m(text, query)` accepts `text`, shown by its simplest form: every record is one header line
    and one row line (letters and '-', exactly len(query) of them upper case or '-'), the first row the query."""
    if not query or not text.isascii() or any(end in text for end in _OTHER_LINE_ENDS):
        return False
    if not text.endswith("\n"):
        text += "\n"  # a last line without its '\n' is the same line
    start = 0
    while text.startswith("#", start):  # hhblits' and ColabFold's first lines: the parser skips '#' lines
        start = text.find("\n", start) + 1
    if not text.startswith(">", start):
        return False
    first_row = text.find("\n", start) + 1
    if not text.startswith(query + "\n", first_row):
        return False
    end_of_text = len(text)
    while start < end_of_text:
        # Blocks end where a record starts ("\n>"): in a text of this form only headers start with '>'.
        cut = text.find("\n>", start + BLOCK_CHARS)
        end = end_of_text if cut < 0 else cut + 1
        if not _block_accepted(text[start:end - 1], len(query)):
            return False
        start = end
    return True


def _block_accepted(block: str, columns: int) -> bool:
    """`block` (whole records, without the last '\n') is header line, row line, header line, row line, ..."""
    lines = block.split("\n")
    if len(lines) % 2:
        return False
    headers, rows = lines[0::2], lines[1::2]
    # Every header line starts with '>' and no row line does (rows hold letters and '-' only, checked below).
    if block.count("\n>") + 1 != len(headers):
        return False
    row_text = "\n".join(rows).encode("ascii")
    if row_text.translate(None, _ROW_BYTES):  # anything but letters, '-' and the line ends
        return False
    # With the insertions (lower case) gone every row is exactly `columns` long: the line ends sit every
    # columns + 1 characters, and nowhere else.
    aligned = row_text.translate(None, _LOWER)
    return len(aligned) == len(rows) * (columns + 1) - 1 and \
        aligned[columns::columns + 1] == b"\n" * (len(rows) - 1)
