"""The YAML the project's manifests use, read with the standard library only: documents (---),
block mappings and sequences, plain and quoted scalars, flow sequences of scalars ([a, b]) and
comments. Anything else (anchors, tags, block scalars, flow mappings) raises ValueError, so a
manifest that leaves the subset is noticed rather than misread."""
import json
import re

_INT = re.compile(r"-?(0|[1-9][0-9]*)$")


def _strip_comment(text):
    """The line without a trailing # comment (one outside quotes)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def scalar(text, where):
    t = text.strip()
    if not t or t in ("~", "null"):
        return None
    if t[0] in "&*!|>{" or t.startswith("? "):
        raise ValueError("%s: outside the subset: %r" % (where, t))
    if t[0] == '"':
        return json.loads(t)
    if t[0] == "'":
        if not t.endswith("'") or len(t) < 2:
            raise ValueError("%s: unterminated quote: %r" % (where, t))
        return t[1:-1].replace("''", "'")
    if t[0] == "[":
        if not t.endswith("]"):
            raise ValueError("%s: a flow sequence must end on its line: %r" % (where, t))
        inner = t[1:-1].strip()
        return [scalar(x, where) for x in inner.split(",")] if inner else []
    if t in ("true", "false"):
        return t == "true"
    if _INT.match(t):
        return int(t)
    return t


def _lines(text):
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise ValueError("line %d: a tab in the indentation" % n)
        body = _strip_comment(raw)
        if body.strip():
            out.append((len(body) - len(body.lstrip()), body.strip(), n))
    return out


def _split_key(text, where):
    m = re.match(r"""("[^"]*"|'[^']*'|[^\s'"][^:]*?):(\s+|$)(.*)$""", text)
    if not m:
        return None
    return scalar(m.group(1), where), m.group(3)


class _Parser:
    def __init__(self, lines):
        self.lines, self.i = lines, 0

    def peek(self):
        return self.lines[self.i] if self.i < len(self.lines) else None

    def node(self, indent):
        line = self.peek()
        if line is None or line[0] < indent:
            return None
        if line[1] == "-" or line[1].startswith("- "):
            return self.sequence(line[0])
        return self.mapping(line[0])

    def sequence(self, indent):
        out = []
        while True:
            line = self.peek()
            if line is None or line[0] != indent or not (line[1] == "-" or
                                                         line[1].startswith("- ")):
                return out
            rest = line[1][1:].strip()
            self.i += 1
            if not rest:
                out.append(self.node(indent + 1))
            elif _split_key(rest, "line %d" % line[2]):
                # "- key: value": a mapping whose first key sits after the dash
                self.lines.insert(self.i, (indent + 2, rest, line[2]))
                out.append(self.mapping(indent + 2))
            else:
                out.append(scalar(rest, "line %d" % line[2]))

    def mapping(self, indent):
        out = {}
        while True:
            line = self.peek()
            if line is None or line[0] < indent:
                return out
            where = "line %d" % line[2]
            if line[0] > indent:
                raise ValueError("%s: unexpected indentation" % where)
            kv = _split_key(line[1], where)
            if kv is None:
                return out if line[1].startswith("-") else self._fail(where, line[1])
            key, rest = kv
            if key in out:
                raise ValueError("%s: duplicate key %r" % (where, key))
            self.i += 1
            if rest:
                out[key] = scalar(rest, where)
                continue
            nxt = self.peek()
            # a sequence may sit at the key's own indentation
            if nxt and nxt[0] == indent and (nxt[1] == "-" or nxt[1].startswith("- ")):
                out[key] = self.sequence(indent)
            else:
                out[key] = self.node(indent + 1)

    @staticmethod
    def _fail(where, text):
        raise ValueError("%s: not a key: value pair: %r" % (where, text))


def load_all(text):
    docs, chunk = [], []
    for line in text.splitlines() + ["---"]:
        if line.rstrip() == "---":
            lines = _lines("\n".join(chunk))
            if lines:
                p = _Parser(lines)
                doc = p.node(0)
                if p.peek() is not None:
                    raise ValueError("line %d: not understood" % p.peek()[2])
                docs.append(doc)
            chunk = []
        else:
            chunk.append(line)
    return docs
