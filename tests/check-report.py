#!/usr/bin/env python3
"""Checks a report form with a real parser (tests/test_report.c runs it).

  check-report.py html FILE   the page is UTF-8, parses, holds only the
                              page's own elements and attributes (no
                              script, no img, no on* handler), and shows
                              the hostile text as text
  check-report.py junit FILE  every suite's tests/failures/errors/skipped
                              counts match its testcases

Prints what is wrong and exits 1, or prints "ok".
"""
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

# What assay_report_html writes itself; anything else came from a payload.
TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "section", "table",
        "tr", "th", "td", "b", "br", "small", "code", "pre", "ul", "li", "p", "svg", "text", "rect", "line", "circle"}
ATTRS = {"colspan", "lang", "charset", "http-equiv", "content", "class", "width", "height", "role", "x", "y",
         "font-size", "fill", "x1", "y1", "x2", "y2", "stroke", "stroke-width", "stroke-dasharray", "cx", "cy",
         "r"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems, self.text, self.title, self.stack = [], [], "", []

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS:
            self.problems.append("element <%s> is not the page's own" % tag)
        for name, value in attrs:
            if name not in ATTRS:
                self.problems.append("attribute %s=%r on <%s> is not the page's own" % (name, value, tag))
        if tag not in ("meta", "br", "rect", "line", "circle"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "title":
            self.title += data
        self.text.append(data)

    def handle_comment(self, data):
        self.problems.append("a comment <!--%s--> in the page" % data[:40])

    def handle_pi(self, data):
        self.problems.append("a processing instruction in the page")


def check_html(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        return ["not UTF-8: %s" % e]
    p = Page()
    p.feed(text)
    p.close()
    problems = p.problems
    shown = "".join(p.text)
    if not p.title.startswith("适配测试报告 Adaptation Test Report"):
        problems.append("the title is %r" % p.title[:80])
    for must in ("<script>document.title=", "<img src=x onerror=", "]]></failure>", "中文厂商"):
        if must not in shown:
            problems.append("the hostile text %r is not shown as text" % must)
    bad = [c for c in shown if (ord(c) < 0x20 and c not in "\t\n\r") or 0x7f <= ord(c) <= 0x9f
           or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufffe\uffff"]
    if bad:
        problems.append("control or bidi characters shown: %r" % sorted(set(bad))[:10])
    return problems


def check_junit(path):
    problems = []
    root = ET.parse(path).getroot()
    if root.tag != "testsuites":
        return ["the root is <%s>" % root.tag]
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for i, s in enumerate(root.findall("testsuite")):
        cases = s.findall("testcase")
        counts = {"tests": len(cases),
                  "failures": sum(1 for c in cases if c.find("failure") is not None),
                  "errors": sum(1 for c in cases if c.find("error") is not None),
                  "skipped": sum(1 for c in cases if c.find("skipped") is not None)}
        for k, v in counts.items():
            if int(s.get(k, "-1")) != v:
                problems.append("suite %d: %s=%s, but %d testcases say so" % (i + 1, k, s.get(k), v))
        if counts["tests"] == 0:
            problems.append("suite %d has no testcase (CI reads an empty suite as green)" % (i + 1))
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        if int(root.get(k, "-1")) != v:
            problems.append("testsuites: %s=%s, but %d testcases say so" % (k, root.get(k), v))
    return problems


def main():
    kind, path = sys.argv[1], sys.argv[2]
    problems = check_html(path) if kind == "html" else check_junit(path)
    for p in problems[:20]:
        print(p)
    if problems:
        sys.exit(1)
    print("ok")


main()
