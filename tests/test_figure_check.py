"""Figures looked at by a model that sees images; text-only models skip with a note; the scripted
provider takes image parts exactly where the real APIs do."""

from __future__ import annotations

import base64
import hashlib
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import openai  # noqa: E402
import pytest  # noqa: E402

from labcoat.llm.faults import ProviderError  # noqa: E402
from labcoat.llm.presets import parse_model  # noqa: E402
from labcoat.llm.vision import accepts_images, image_part  # noqa: E402
from labcoat.solvers.paper.figure_check import check_figures  # noqa: E402
from labcoat.store import open_store  # noqa: E402

from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, reply_command, scripted_config, scripted_env  # noqa: E402
from tests.support.scripted_run import open_context  # noqa: E402

RECORDS = "| metric | split | value |\n| accuracy | dev | 0.9649 |"


@pytest.fixture
def figure_dir(tmp_path):
    folder = tmp_path / "report" / "figures"
    folder.mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["scaled", "unscaled"], [0.9649, 0.9123])  # no axis labels: a problem a careful look finds
    fig.savefig(folder / "dev_accuracy.png", dpi=50)
    plt.close(fig)
    (folder / "schema.pdf").write_bytes(b"%PDF-1.4\n")
    return folder


def _verdict(request):
    if request.command_names != ["figure_check"]:
        return reply_command("dialogue", text="?")
    if not request.images:
        return reply_command("figure_check", problems=["I was shown no image."])
    return reply_command("figure_check", problems=["the y axis has no label (accuracy?)"])


@pytest.mark.parametrize("model, wire", [("openai:gpt-4o-mini", "openai"), ("anthropic:claude-sonnet-4-6", "anthropic"),
                                         ("gemini:gemini-2.5-flash", "openai")])
def test_a_vision_model_is_shown_each_figure_with_caption_and_records(tmp_path, figure_dir, model, wire):
    with ScriptedProvider(_verdict) as sp, open_context(tmp_path / "run", scripted_config(sp, model=model),
                                                        env=scripted_env(sp), phase="report_writing") as ctx:
        checks = check_figures(ctx, figure_dir, ["dev_accuracy.png", "schema.pdf"], RECORDS)
        sent = [r for r in sp.requests if r.status == 200]
    assert len(sent) == 1 and sent[0].api == wire
    png = (figure_dir / "dev_accuracy.png").read_bytes()
    assert sent[0].images == [("image/png", png)]
    assert '"dev accuracy"' in sent[0].last_user and "0.9649" in sent[0].last_user
    assert checks.model == model and checks.problems == {"dev_accuracy.png": ["the y axis has no label (accuracy?)"]}
    assert "dev_accuracy.png: the y axis has no label" in checks.feedback()
    assert checks.notes == ["figure schema.pdf was not looked at: models see PNG, JPEG, GIF or WebP, not .pdf"]
    with open_store(tmp_path / "run", readonly=True) as store:  # the store holds the image's hash, not its bytes
        request = json.loads(store.db.execute("SELECT request FROM effects WHERE kind='llm'").fetchone()[0])
    image = request["messages"][0]["content"][1]
    assert image == {"type": "image", "media_type": "image/png", "sha256": hashlib.sha256(png).hexdigest()}


@pytest.mark.parametrize("model", ["openai:gpt-3.5-turbo", "openai:o3-mini", "deepseek:deepseek-chat", "local:smollm2"])
def test_text_only_models_skip_the_look_with_a_note(tmp_path, figure_dir, model):
    with ScriptedProvider(_verdict) as sp, open_context(tmp_path / "run", scripted_config(sp, model=model),
                                                        env=scripted_env(sp), phase="report_writing") as ctx:
        checks = check_figures(ctx, figure_dir, ["dev_accuracy.png"], RECORDS)
        assert sp.requests == []
    assert checks.problems == {} and checks.feedback() == ""
    assert checks.notes == [f"the figures were not looked at: the writing model ({model}) and the reviewing model "
                            f"({model}) take text only"]


def test_the_reviewer_looks_when_only_its_model_sees_images(tmp_path, figure_dir):
    with ScriptedProvider(_verdict) as sp:
        config = scripted_config(sp, model="deepseek:deepseek-chat", models={"roles": {"reviewer": "openai:gpt-4o"}})
        with open_context(tmp_path / "run", config, env=scripted_env(sp), phase="report_writing") as ctx:
            checks = check_figures(ctx, figure_dir, ["dev_accuracy.png"], RECORDS)
    assert checks.model == "openai:gpt-4o" and [r.model for r in sp.requests] == ["gpt-4o"]


def test_labcoat_never_sends_an_image_to_a_text_only_model(tmp_path, figure_dir):
    with ScriptedProvider(_verdict) as sp, open_context(tmp_path / "run", scripted_config(sp, model="openai:gpt-3.5-turbo"),
                                                        env=scripted_env(sp), phase="report_writing") as ctx:
        with pytest.raises(ProviderError, match="gpt-3.5-turbo does not accept images"):
            ctx.models.ask(key="look", role="professor", system="s", messages=[{"role": "user", "content": [
                {"type": "text", "text": "look"}, image_part(figure_dir / "dev_accuracy.png")]}])
        assert sp.requests == []


def _png_url(figure_dir) -> str:
    return "data:image/png;base64," + base64.b64encode((figure_dir / "dev_accuracy.png").read_bytes()).decode()


@pytest.mark.parametrize("model, accepted", [("gpt-4o-mini", True), ("gpt-4.1", True), ("o1", True),
                                             ("gpt-3.5-turbo", False), ("o3-mini", False), ("deepseek-chat", False)])
def test_the_scripted_provider_takes_images_where_openai_does(figure_dir, model, accepted):
    with ScriptedProvider(lambda r: "Looks fine.") as sp:
        client = openai.OpenAI(api_key=TEST_KEY, base_url=sp.base_url_openai, max_retries=0)
        content = [{"type": "text", "text": "What does it show?"}, {"type": "image_url", "image_url": {"url": _png_url(figure_dir)}}]
        if accepted:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
            assert reply.choices[0].message.content == "Looks fine."
        else:
            with pytest.raises(openai.BadRequestError) as refused:
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
            assert "image_url" in str(refused.value)
        assert accepts_images(parse_model(f"{'deepseek' if model.startswith('deepseek') else 'openai'}:{model}")) \
            is accepted  # labcoat's table agrees with the service
        with pytest.raises(openai.BadRequestError, match="unsupported image|image_url"):
            bad = [content[0], {"type": "image_url", "image_url": {"url": "data:image/png;base64,bm90IGEgcG5n"}}]
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": bad}])
        client.close()


def test_the_scripted_provider_checks_anthropic_image_blocks(figure_dir):
    import anthropic

    data = base64.b64encode((figure_dir / "dev_accuracy.png").read_bytes()).decode()
    with ScriptedProvider(lambda r: "Looks fine.") as sp:
        client = anthropic.Anthropic(api_key=TEST_KEY, base_url=sp.base_url_anthropic, max_retries=0)
        block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
        reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=[
            {"role": "user", "content": [{"type": "text", "text": "What does it show?"}, block]}])
        assert reply.content[0].text == "Looks fine."
        for model, wrong in (("claude-2.1", block), ("claude-sonnet-4-6", {**block, "source": {**block["source"],
                                                                                             "media_type": "image/bmp"}})):
            with pytest.raises(anthropic.BadRequestError):
                client.messages.create(model=model, max_tokens=50, messages=[
                    {"role": "user", "content": [{"type": "text", "text": "What does it show?"}, wrong]}])
        client.close()
