"""`voiceskill ask` and `voiceskill chat` as a user runs them (a real subprocess, real stdin)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from evalsets import EVAL, conversations, judge


def voiceskill(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voiceskill", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def test_ask_one_question_json() -> None:
    out = voiceskill("ask", "--json", "why do my glutes keep cramping?")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert set(reply) >= {"input", "intent", "answer", "confidence"}
    assert reply["intent"] == "causes" and judge("causes", reply["intent"], reply["answer"])


def test_ask_reads_questions_from_stdin_each_independent() -> None:
    rows = [line.split("\t") for line in (EVAL / "questions.tsv").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    stdin = "\n".join(q for _, q in rows) + "\n\ntell me more\n"
    out = voiceskill("ask", "--json", stdin=stdin)
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(replies) == len(rows) + 1          # the blank line is skipped
    for (topic, question), reply in zip(rows, replies):
        assert reply["input"] == question and judge(topic, reply["intent"], reply["answer"])
    assert replies[-1]["intent"] == "more" and "question first" in replies[-1]["answer"]


def test_fallback_json_has_null_intent() -> None:
    reply = json.loads(voiceskill("ask", "--json", "turn on the lights").stdout)
    assert reply["intent"] is None and reply["answer"].startswith("Sorry")


def test_chat_keeps_state_across_lines() -> None:
    conv = conversations()
    stdin = "\n".join(t for c in conv for t in c.turns) + "\n"
    out = voiceskill("chat", "--json", stdin=stdin)
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    intents = [r["intent"] for r in replies]
    assert intents == ["causes", "more", "water", "repeat", "help", "prevent", "stop"]
    assert replies[3]["answer"] == replies[2]["answer"] and replies[6]["answer"] == ""


def test_plain_output_is_the_answer() -> None:
    out = voiceskill("ask", "how much water should I drink")
    assert "64 ounces" in out.stdout and out.stdout.count("\n") == 1


def test_other_article(tmp_path: Path) -> None:
    article = tmp_path / "sleep.txt"
    article.write_text("Sleep and Recovery\n\nAdults need seven to nine hours of sleep.\n\n"
                       "Naps\n\nA short nap of twenty minutes can restore alertness.\n")
    out = voiceskill("ask", "--json", "--article", str(article), "how long should a nap be")
    assert "twenty minutes" in json.loads(out.stdout)["answer"]


def test_bad_article_is_one_line_error_and_nonzero_exit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00junk")
    out = voiceskill("ask", "--article", str(bad), "hello")
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.startswith("voiceskill: error:") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr
    missing = voiceskill("ask", "--article", str(tmp_path / "nope.txt"), "hello")
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_python_dash_m_and_help() -> None:
    out = voiceskill("--help")
    assert out.returncode == 0 and "ask" in out.stdout and "chat" in out.stdout
