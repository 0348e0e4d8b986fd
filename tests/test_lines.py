from chat.protocol.lines import TOO_LONG, LineSplitter


def test_splits_lines_and_strips_crlf() -> None:
    s = LineSplitter(100)
    assert s.feed(b"a\r\nb\nc") == [b"a", b"b"]
    assert s.feed(b"d\n") == [b"cd"]
    assert s.buffered == 0


def test_line_split_across_many_reads() -> None:
    s = LineSplitter(100)
    out = []
    for byte in b"hello world\r\n":
        out += s.feed(bytes([byte]))
    assert out == [b"hello world"]


def test_complete_line_over_limit_is_reported_and_next_line_works() -> None:
    s = LineSplitter(10)
    assert s.feed(b"x" * 11 + b"\nok\n") == [TOO_LONG, b"ok"]


def test_line_of_exactly_the_limit_is_accepted_even_with_crlf() -> None:
    s = LineSplitter(10)
    assert s.feed(b"x" * 10 + b"\r") == [b"x" * 10]  # a CR ends the line at once
    assert s.feed(b"\n") == []  # ... and the LF of its CR LF, in the next read, is not a line
    assert s.feed(b"y\n") == [b"y"]


def test_a_lone_cr_ends_a_line() -> None:
    s = LineSplitter(100)
    assert s.feed(b"alice\r") == [b"alice"]
    assert s.feed(b"hello\rworld\r\n\r\rend") == [b"hello", b"world", b"", b""]
    assert s.feed(b"\n") == [b"end"]
    assert s.buffered == 0


def test_unterminated_long_line_is_never_buffered_past_the_limit() -> None:
    s = LineSplitter(10)
    assert s.feed(b"y" * 8) == []
    assert s.feed(b"y" * 8) == [TOO_LONG]
    assert s.buffered == 0
    for _ in range(1000):  # a megabyte-ish flood with no newline costs nothing
        assert s.feed(b"z" * 1000) == []
        assert s.buffered == 0
    assert s.feed(b"tail\nnext\n") == [b"next"]


def test_empty_lines_are_passed_through() -> None:
    assert LineSplitter(10).feed(b"\n\r\n") == [b"", b""]
