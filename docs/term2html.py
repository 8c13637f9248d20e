#!/usr/bin/env python3
"""A terminal's bytes as the screen showed them, as escaped HTML.

    docs/term2html.py TYPESCRIPT [--rows N] [--cols N] [--rows-out FILE] > screen.html

Plays what a program wrote to its terminal (as captured through a
pseudo-terminal) through the few controls assay's live view uses: text,
CR, LF, cursor up (CSI n A), erase line (CSI 2 K) and colours (SGR 0, 1,
30-37, 39). The view redraws its table after every scrollback line; each
time a table ends (its progress line, "] N done, M running") the screen is
kept, and the one chosen has the most of both jobs done and jobs running
(done x running; the last such; else the last screen), cut to its last
ROWS rows, as a terminal of ROWS x COLS would show it. Every character goes through html.escape: the text is the
hosts' and vendors', never markup.
"""
import argparse
import html
import re
import sys

COLOURS = {30: "#3b3b3b", 31: "#e06c75", 32: "#98c379", 33: "#e5c07b", 34: "#61afef", 35: "#c678dd",
           36: "#56b6c2", 37: "#dcdfe4"}
PROGRESS = re.compile(r"\] (\d+) done, (\d+) running$")


class Screen:
    def __init__(self, cols):
        self.cols = cols
        self.lines = [[]]  # each a list of (char, fg, bold)
        self.row = self.col = 0
        self.fg, self.bold = None, False
        self.frames = []

    def text(self, ch):
        line = self.lines[self.row]
        if self.col >= self.cols:  # wraps, as a terminal does
            self.newline()
            line = self.lines[self.row]
        while len(line) < self.col:
            line.append((" ", None, False))
        cell = (ch, self.fg, self.bold)
        if self.col < len(line):
            line[self.col] = cell
        else:
            line.append(cell)
        self.col += 1

    def newline(self):
        plain = "".join(c for c, _, _ in self.lines[self.row])
        m = PROGRESS.search(plain)
        if m:
            self.frames.append((int(m.group(1)), int(m.group(2)), [list(l) for l in self.lines[: self.row + 1]]))
        self.row += 1
        self.col = 0
        if self.row == len(self.lines):
            self.lines.append([])

    def csi(self, params, final):
        nums = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
        if final == "A":
            self.row = max(0, self.row - max(1, nums[0]))
        elif final == "K":
            if nums[0] == 2:
                self.lines[self.row] = []
            else:
                del self.lines[self.row][self.col :]
        elif final == "m":
            for n in nums:
                if n == 0:
                    self.fg, self.bold = None, False
                elif n == 1:
                    self.bold = True
                elif n == 22:
                    self.bold = False
                elif n == 39:
                    self.fg = None
                elif 30 <= n <= 37:
                    self.fg = COLOURS[n]

    def feed(self, data):
        i = 0
        while i < len(data):
            ch = data[i]
            if ch == "\x1b" and i + 1 < len(data) and data[i + 1] == "[":
                m = re.match(r"\x1b\[([0-9;?]*)([@-~])", data[i:])
                if m:
                    self.csi(m.group(1), m.group(2))
                    i += m.end()
                    continue
            if ch == "\n":
                self.newline()
            elif ch == "\r":
                self.col = 0
            elif ch == "\b":
                self.col = max(0, self.col - 1)
            elif ch >= " " and ch != "\x7f":
                self.text(ch)
            i += 1


def to_html(lines, cols):
    out = []
    for line in lines:
        row, cur, buf = [], None, []
        for ch, fg, bold in line + [(None, None, False)]:
            style = (fg, bold)
            if ch is None or style != cur:
                if buf:
                    text = html.escape("".join(buf))
                    css = ";".join(s for s in (f"color:{cur[0]}" if cur[0] else "", "font-weight:bold" if cur[1] else "") if s)
                    row.append(f'<span style="{css}">{text}</span>' if css else text)
                buf, cur = [], style
            if ch is not None:
                buf.append(ch)
        out.append("".join(row))
    body = "\n".join(out)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<style>html,body{margin:0;background:#1e2127}"
        "pre{margin:0;padding:12px 14px;color:#dcdfe4;font:14px/1.35 'DejaVu Sans Mono','Noto Sans Mono CJK SC',monospace;"
        f"width:{cols}ch;white-space:pre}}</style></head>\n<body><pre>{body}</pre></body></html>\n"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("typescript")
    ap.add_argument("--rows", type=int, default=24)
    ap.add_argument("--cols", type=int, default=110)
    ap.add_argument("--rows-out", help="write the number of rows shown here")
    a = ap.parse_args()
    with open(a.typescript, "rb") as f:
        data = f.read().decode("utf-8", "replace")
    # script(1)'s own first and last lines are not the program's.
    lines = data.split("\n")
    if lines and lines[0].startswith("Script started on "):
        lines = lines[1:]
    data = "\n".join(l for l in lines if not l.startswith("Script done on "))
    s = Screen(a.cols)
    s.feed(data)
    if not s.frames:
        sys.exit("term2html: no frame of the live view in %s (no progress line)" % a.typescript)
    # Mid-run: the most of both, jobs done (their lines in the scrollback)
    # and jobs running (the table), and of those screens the last.
    both = [(k, f) for k, f in enumerate(s.frames) if f[0] > 0 and f[1] > 0]
    pick = max(both, key=lambda kf: (kf[1][0] * kf[1][1], kf[0]))[1] if both else s.frames[-1]
    shown = pick[2][-a.rows :]
    sys.stdout.write(to_html(shown, a.cols))
    if a.rows_out:
        with open(a.rows_out, "w") as f:
            f.write("%d\n" % len(shown))


if __name__ == "__main__":
    main()
