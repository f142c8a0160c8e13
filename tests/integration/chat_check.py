#!/usr/bin/env python3
"""`edge-rt chat` and `edge-rt template` on SmolLM2-135M-Instruct (GGUF, its own chat template):

- multi-turn greedy replies with the KV cache reused across turns equal, turn by turn, a single `edge-rt run` of
  the whole conversation rendered by `edge-rt template` (KV reuse changes nothing);
- turns after the first prefill only the new tokens (the rest come from the cache);
- the same chat under a memory budget far below the model's size (layers streamed) gives the same replies;
- `run -cnv` is the same loop; /save writes JSON messages that `template --messages` reads;
- Ctrl-C stops the current reply only, and the chat goes on;
- `template` renders the real qwen3 tokenizer_config.json template as Python jinja2 does (reference.json) on a
  folder holding only tokenizer files, and a folder without a template is a named error unless --chat-template.
"""
import argparse
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import time

TURNS = ["Hi! Who are you?", "Name three colors.", "Tell me a short fact about the Moon."]
N = 48


def chat(edge_rt, model, tmp, extra=(), name="chat", cmd=("chat",)):
    saved = tmp / f"{name}.json"
    stdin = "\n".join(TURNS + [f"/save {saved}", "/exit"]) + "\n"
    p = subprocess.run([edge_rt, *cmd, "-m", model, "--temp", "0", "-n", str(N), "--ctx-size", "512", "-v",
                        *extra], input=stdin, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"{name}: exit {p.returncode}\n{p.stderr}")
    messages = json.loads(saved.read_text())
    turns = [line for line in p.stderr.splitlines() if line.startswith("edge-rt: turn ")]
    return messages, turns, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edge-rt", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizers", required=True, type=pathlib.Path)
    ap.add_argument("--reference", required=True, type=pathlib.Path)
    ap.add_argument("--tmp", required=True, type=pathlib.Path)
    args = ap.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    messages, turns, transcript = chat(args.edge_rt, args.model, args.tmp)
    print(transcript)
    check([m["role"] for m in messages] == ["user", "assistant"] * len(TURNS), "the conversation alternates")
    check(len(turns) == len(TURNS), f"{len(turns)} turn lines")
    for k, line in enumerate(turns):
        reused = int(line.split(": ")[2].split()[0])
        prefilled = int(line.split(", ")[1].split()[0])
        if k == 0:
            check(reused == 0, f"turn 1 reuses nothing ({line})")
        else:
            check(reused > 0 and prefilled < 40, f"turn {k + 1} prefills only the new turn ({line})")

    # Each reply equals a single run of the conversation up to its user turn, rendered by `template`.
    for k in range(len(TURNS)):
        history = args.tmp / f"history{k}.json"
        history.write_text(json.dumps(messages[:2 * k + 1]))
        prompt = subprocess.run([args.edge_rt, "template", "-m", args.model, "--messages", str(history)],
                                capture_output=True, check=True, timeout=120).stdout
        prompt_file = args.tmp / f"prompt{k}.txt"
        prompt_file.write_bytes(prompt)
        run = subprocess.run([args.edge_rt, "run", "-m", args.model, "-f", str(prompt_file), "--temp", "0", "-n",
                              str(N), "--no-monitor", "--output", "json"], capture_output=True, text=True,
                             timeout=300)
        if run.returncode != 0:
            sys.exit(run.stderr)
        text = json.loads(run.stdout)["text"]
        check(text == messages[2 * k + 1]["content"],
              f"reply {k + 1} equals one run of the rendered conversation: {text!r}")

    budget_messages, budget_turns, _ = chat(args.edge_rt, args.model, args.tmp, ("--memory-budget", "40M"),
                                            "budget")
    check(budget_messages == messages, "under --memory-budget 40M (model 94 MiB, streamed) the replies are the same")
    cnv_messages, _, _ = chat(args.edge_rt, args.model, args.tmp, (), "cnv", ("run", "-cnv"))
    check(cnv_messages == messages, "run -cnv is the chat loop")

    # Ctrl-C during a reply that would run to the end of the context stops that reply only.
    p = subprocess.Popen([args.edge_rt, "chat", "-m", args.model, "--temp", "0", "--ignore-eos", "--ctx-size", "4096"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stopped = 0
    for turn in ("Write a long story.", "Another one."):
        p.stdin.write((turn + "\n").encode())
        p.stdin.flush()
        got = b""
        deadline = time.time() + 120
        while len(got) < 200 and time.time() < deadline:  # the reply is streaming
            if select.select([p.stdout], [], [], 1)[0]:
                got += os.read(p.stdout.fileno(), 4096)
        p.send_signal(signal.SIGINT)
        stopped += 1
    p.stdin.close()
    p.stdout.read()
    err = p.stderr.read()
    p.wait(timeout=120)
    check(p.returncode == 0, f"the chat ends normally after two Ctrl-C (exit {p.returncode})")
    check(err.decode().count("reply stopped") == stopped, "each Ctrl-C stopped one reply")

    out = subprocess.run([args.edge_rt, "run", "-cnv", "-m", args.model, "-p", "hello"], input="", capture_output=True,
                         text=True, timeout=120)
    check(out.returncode == 1 and "-p does not apply to a chat" in out.stderr, "run -cnv -p is an error")
    out = subprocess.run([args.edge_rt, "run", "-m", args.model, "-sys", "be brief", "-p", "hi"], capture_output=True,
                         text=True, timeout=120)
    check(out.returncode == 1 and "-sys applies to a chat: add -cnv" in out.stderr, "run -sys without -cnv")

    # template on a folder of tokenizer files only, against Python jinja2's rendering.
    ref = json.loads(args.reference.read_text())
    case = next(c for c in ref["cases"] if c["template"] == "qwen3" and c["case"] == "system_multi_turn"
                and c["add_generation_prompt"])
    conv = args.tmp / "qwen3_messages.json"
    conv.write_text(json.dumps(case["messages"], ensure_ascii=False))
    out = subprocess.run([args.edge_rt, "template", "-m", str(args.tokenizers / "qwen3"), "--messages", str(conv)],
                         capture_output=True, timeout=120)
    check(out.returncode == 0 and out.stdout.decode() == case["output"], "template on tokenizers/qwen3 = jinja2")
    out = subprocess.run([args.edge_rt, "template", "-m", str(args.tokenizers / "qwen3"), "--messages", str(conv),
                          "--no-generation-prompt"], capture_output=True, timeout=120)
    check(out.returncode == 0 and not out.stdout.decode().endswith("<|im_start|>assistant\n"),
          "--no-generation-prompt leaves out the assistant header")
    out = subprocess.run([args.edge_rt, "template", "-m", str(args.tokenizers / "llama2"), "--messages", str(conv)],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 1 and "has no chat template" in out.stderr, "llama2 has no template: " + out.stderr.strip())
    out = subprocess.run([args.edge_rt, "template", "-m", str(args.tokenizers / "llama2"), "--messages", str(conv),
                          "--chat-template", "llama2"], capture_output=True, text=True, timeout=120)
    check(out.returncode == 0 and out.stdout.startswith("<s>[INST] <<SYS>>\n"), "--chat-template llama2")
    out = subprocess.run([args.edge_rt, "template", "-m", str(args.tokenizers / "llama2"), "--messages", str(conv),
                          "--chat-template", "nonesuch"], capture_output=True, text=True, timeout=120)
    check(out.returncode == 1 and "neither a built-in template" in out.stderr, "an unknown template name")

    if failures:
        sys.exit(f"{len(failures)} check(s) failed")


if __name__ == "__main__":
    main()
