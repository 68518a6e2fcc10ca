"""Seed: evaluate a prompting strategy with an LLM, through labcoat's model gateway.

Reads question/answer pairs from LABCOAT_DATA_DIR/*.jsonl ({"question",
"answer", "split"}), asks the experiment model (LABCOAT_LAB_MODEL, one of
`experiments.models`) with the OpenAI SDK, whose base URL and key the sandbox
sets to the gateway (the provider key never enters the sandbox), scores
exact-match accuracy of the final answer on dev, and on test only when
LABCOAT_EVAL_SPLIT=test. Every call is billed, budgeted and recorded by labcoat.
"""
import glob
import json
import os
import re

from openai import OpenAI

PROMPT = "Solve the problem. End with a line 'Answer: <final answer>'.\n\nProblem: {question}"


def load(split):
    items = []
    data_dir = os.environ.get("LABCOAT_DATA_DIR", "")
    for path in sorted(glob.glob(os.path.join(data_dir, "*.jsonl"))) if data_dir else []:
        with open(path) as f:
            items += [json.loads(line) for line in f if line.strip()]
    return [x for x in items if x.get("split", "dev") == split]


def final_answer(text):
    found = re.findall(r"Answer:\s*(.+)", text or "")
    return found[-1].strip() if found else ""


def evaluate(client, model, items):
    correct = 0
    for item in items:
        reply = client.chat.completions.create(
            model=model, temperature=0,
            messages=[{"role": "user", "content": PROMPT.format(question=item["question"])}])
        correct += final_answer(reply.choices[0].message.content) == str(item["answer"]).strip()
    return correct / max(1, len(items))


def main():
    client = OpenAI()
    model = os.environ.get("LABCOAT_LAB_MODEL") or "gpt-4o-mini"
    dev = load("dev")
    if not dev:
        raise SystemExit("no dev items: write {question, answer, split} lines to LABCOAT_DATA_DIR/*.jsonl")
    metrics = [{"name": "accuracy", "value": evaluate(client, model, dev), "split": "dev", "higher_is_better": True}]
    print(f"dev accuracy {metrics[0]['value']:.4f} on {len(dev)} items")
    if os.environ.get("LABCOAT_EVAL_SPLIT") == "test":
        test = load("test")
        metrics.append({"name": "accuracy", "value": evaluate(client, model, test), "split": "test",
                        "higher_is_better": True})
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)


if __name__ == "__main__":
    main()
