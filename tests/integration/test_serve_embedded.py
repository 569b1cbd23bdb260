"""`antrenor serve` on the embedded SmolLM2 (torch backend), queried with the official openai client."""

import pytest

from tests.unit.serve_process import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2():
    from antrenor.errors import AntrenorError
    from antrenor.models.embedded import smollm2_folder

    try:
        return smollm2_folder()
    except AntrenorError as error:  # the embedded model package is not installed
        pytest.skip(str(error))


def test_smollm2_answers_through_the_openai_client(smollm2, tmp_path):
    import openai

    server = ServerProcess(smollm2, tmp_path, "--quiet", api_key="k").wait_ready()
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0, timeout=60)
        (model,) = client.models.list().data
        assert model.id == "smollm2-135m-instruct"
        messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
        chat = client.chat.completions.create(model=model.id, messages=messages, max_tokens=8, temperature=0)
        answer = chat.choices[0].message.content
        assert "Paris" in answer, answer  # a real model, really answering
        assert chat.usage.prompt_tokens > 10 and 0 < chat.usage.completion_tokens <= 8
        streamed = client.chat.completions.create(model=model.id, messages=messages, max_tokens=8, temperature=0, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == answer
    finally:
        server.stop()
    from antrenor.records.request_log import RequestLog

    rows = RequestLog(server.log_db).rows()
    assert [r["status"] for r in rows] == [200, 200] and rows[0]["outputs"] == [answer]
    assert rows[0]["inputs"] == [messages[0]["content"]] and rows[0]["model_version"]
