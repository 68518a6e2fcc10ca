"""Seed: evaluate a prompting strategy with an LLM (needs a granted key).

Reads question/answer pairs from LABCOAT_DATA_DIR/*.jsonl ({"question",
"answer", "split"}), asks an OpenAI-compatible endpoint (OPENAI_BASE_URL,
OPENAI_API_KEY and LABCOAT_EVAL_MODEL, all granted to the sandbox by the
config with network allowed), scores exact-match accuracy of the final
answer on dev, and on test only when LABCOAT_EVAL_SPLIT=test.
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
            model=model, messages=[{"role": "user", "content": PROMPT.format(question=item["question"])}])
        correct += final_answer(reply.choices[0].message.content) == str(item["answer"]).strip()
    return correct / max(1, len(items))


def main():
    client = OpenAI(base_url=os.environ.get("OPENAI_BASE_URL"), api_key=os.environ["OPENAI_API_KEY"])
    model = os.environ.get("LABCOAT_EVAL_MODEL", "gpt-4o-mini")
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
