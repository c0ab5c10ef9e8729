"""Hostile inputs for the template doctor, each at most 1 MiB unless its point is the size.

The tests assert what the doctor answers for each; `make bench` measures how long it takes and how
much memory it needs (the doctor must answer any input up to 1 MiB within 2 s and 200 MB).
"""

from __future__ import annotations

from typing import Final

MIB: Final = 1_048_576

_INSTANCE: Final = (
    "Resources:\n  Agent:\n    Type: AWS::EC2::Instance\n    Properties:\n      ImageId: ami-1\n"
)


def _user_data(value: str) -> str:
    return f"{_INSTANCE}      UserData: {value}\n"


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    return "\n".join(lines) + "\n"


def _long_script_line() -> str:
    return _user_data("!Base64 |\n        #!/bin/bash\n        echo " + "x" * 1_000_000)


def _many_script_lines() -> str:
    body = "        echo $a ${b} \"$(c)\" 'x' # y\n" * 25_000
    return f"{_INSTANCE}      UserData: !Base64 |\n        #!/bin/bash\n{body}"


def _substitution_blowup() -> str:
    # One ${P} of 1,000 characters repeated 100,000 times would render 100 MB.
    return (
        f"Parameters:\n  P:\n    Type: String\n    Default: {'p' * 1000}\n{_INSTANCE}"
        f'      UserData: !Base64\n        Fn::Sub: "#!/bin/bash\\necho {"${P}" * 100_000}"\n'
    )


def _join_blowup() -> str:
    refs = ", ".join(["!Ref P"] * 60_000)
    return (
        f"Parameters:\n  P:\n    Type: String\n    Default: {'p' * 1000}\n{_INSTANCE}"
        f"      UserData: !Base64 {{'Fn::Join': ['', ['#!/bin/bash\\n', {refs}]]}}\n"
    )


def _many_resources() -> str:
    return "Resources:\n" + "".join(f"  R{i}: {{T: X}}\n" for i in range(30_000))


def _many_findings() -> str:
    body = "        cd $HOME/dir$i\n" * 20_000
    return f"{_INSTANCE}      UserData: !Base64 |\n        #!/bin/bash\n{body}"


# name -> (input, what the doctor must say: a fragment of its error, or of a finding's message)
UNREADABLE: Final[dict[str, tuple[bytes, str]]] = {
    "empty file": (b"", "empty"),
    "only whitespace": (b" \n\t\n", "empty"),
    "only a comment": (b"# nothing here\n", "not a CloudFormation template"),
    "binary bytes": (bytes(range(256)) * 16, "not UTF-8"),
    "NUL in the text": (b"Resources:\x00 {}\n", "NUL byte"),
    "UTF-16 with a BOM": ("Resources: {}\n".encode("utf-16"), "UTF-16"),
    "Latin-1 text": ("Description: café\nResources: {}\n".encode("latin-1"), "not UTF-8"),
    "over 1 MiB": (b"Resources: {}\n" + b"#" * (MIB + 10) + b"\n", "1 MB"),
    "a YAML list": (b"- 1\n- 2\n", "not a CloudFormation template"),
    "a scalar": (b"hello\n", "not a CloudFormation template"),
    "no Resources": (b"Description: x\n", "Resources"),
    "Resources is a list": (b"Resources: [1, 2]\n", "Resources"),
    "two documents": (b"Resources: {}\n---\nResources: {}\n", "another document"),
    "alias bomb": (_alias_bomb().encode(), "alias"),
    "one alias": (b"x: &x {Type: AWS::SNS::Topic}\nResources:\n  T: *x\n", "alias"),
    "merge key": (b"Resources:\n  <<: {a: 1}\n", "merge key"),
    "duplicate top-level key": (b"Resources: {}\nResources: {}\n", "appears twice"),
    "duplicate resource": (
        b"Resources:\n  T: {Type: AWS::SNS::Topic}\n  T: {Type: AWS::SNS::Topic}\n",
        "appears twice",
    ),
    "100k-deep YAML flow": (b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nest"),
    "deep YAML blocks": (
        ("Resources:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400))).encode(),
        "nested",
    ),
    "100k-deep JSON": (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    "JSON NaN": (b'{"Resources": NaN}', "Resources"),
    "unknown short tag": (b"Resources: !Bogus x\n", "!Bogus"),
    "python object tag": (b"Resources: !!python/object/apply:os.system ['true']\n", "constructor"),
    "unclosed quote": (b'Resources:\n  T: "abc\n', "line"),
    "tab indentation": (b"Resources:\n\tT: {}\n", "line"),
    "100,000+ values": (_many_resources().encode(), "values"),
}

# Inputs the doctor reads and answers with findings; the fragment is in one finding's message.
ANSWERED: Final[dict[str, tuple[bytes, str]]] = {
    "Fn::Join of two numbers": (_user_data("!Base64 {Fn::Join: [1, 2]}").encode(), "Fn::Join"),
    "Fn::Join without a list of values": (
        _user_data("!Base64 {Fn::Join: ['', 'x']}").encode(),
        "Fn::Join",
    ),
    "Fn::Sub of a number list": (_user_data("!Base64 {Fn::Sub: [1]}").encode(), "Fn::Sub"),
    "Fn::Base64 of a list": (_user_data("!Base64 [a, b]").encode(), "Fn::Base64"),
    "UserData a mapping": (_user_data("{a: 1}").encode(), "UserData"),
    "substitution blow-up": (_substitution_blowup().encode(), "render"),
    "Join blow-up": (_join_blowup().encode(), "render"),
    "a 1 MB script line": (_long_script_line().encode(), "16 KB"),
    "25,000 script lines": (_many_script_lines().encode(), "16 KB"),
    "20,000 lines using $HOME": (_many_findings().encode(), "16 KB"),
}
