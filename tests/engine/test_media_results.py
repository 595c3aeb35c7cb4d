"""A result saved from a message with a file holds the file's URL, as Glific stores it.

Glific saves a media message's result with the media URL as its ``input`` and the caption beside
it, so ``@results.image`` in a later step is the image, not its (usually empty) caption.
"""

from __future__ import annotations

from sutra.flows.load import read_flow_file

from .flowkit import GLIFIC_FLOWS, Chat, FlowBuilder, send

IMAGE = "https://cdn.example.org/media/cat.jpg"


def vision_chat() -> Chat:
    chat = Chat(read_flow_file(GLIFIC_FLOWS / "GPT_Vision.json").find().flow)
    assert chat.start()[0].startswith("Hello, Welcome to the *Glific")
    return chat


def test_glific_vision_flow_sends_the_image_url_to_the_vision_function() -> None:
    chat = vision_chat()
    sent = chat.say("", attachments=[f"image/jpeg:{IMAGE}"])
    assert sent[0].startswith("Please wait for a few seconds")
    assert chat.request.url == "parse_via_gpt_vision"
    assert chat.request.body["url"] == IMAGE
    assert chat.request.body["model"] == "gpt-4o"


def test_glific_vision_flow_asks_again_for_text_and_keeps_the_text_as_the_result() -> None:
    chat = vision_chat()
    assert chat.say("hello") == ["Please share an image"]
    assert chat.results["image"]["input"] == "hello"
    assert "url" not in chat.results["image"]


def photo_chat(case: tuple[str, list[str], str]) -> Chat:
    flow = (
        FlowBuilder("Photo")
        .switch(
            "ask",
            cases=[case],
            wait=True,
            result_name="photo",
            to={case[2]: "say", "Other": "say"},
        )
        .node(
            "say",
            send(
                "@results.photo | @results.photo.input | @results.photo.value | "
                "@results.photo.caption | @results.photo.category"
            ),
        )
    )
    chat = Chat(flow)
    chat.start()
    return chat


def test_an_image_with_a_caption_is_its_url_and_keeps_the_caption() -> None:
    chat = photo_chat(("has_image", [], "Image"))
    assert chat.say("my farm", attachments=[f"image/jpeg:{IMAGE}"]) == [
        f"{IMAGE} | {IMAGE} | {IMAGE} | my farm | Image"
    ]


def test_a_file_the_case_did_not_ask_for_is_still_its_url() -> None:
    chat = photo_chat(("has_number", [], "Number"))
    assert chat.say("", attachments=[f"application/pdf:{IMAGE}.pdf"]) == [
        f"{IMAGE}.pdf | {IMAGE}.pdf | {IMAGE}.pdf |  | Other"
    ]
