"""Upload an export to the Hugging Face Hub, or say clearly why it cannot."""

from __future__ import annotations

from pathlib import Path

from antrenor.errors import AntrenorError


def push_folder(folder: Path, repo: str) -> str:
    """Create `repo` if needed and upload `folder`; returns the repo URL."""
    import os

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise AntrenorError(f"cannot push to {repo}: HF_HUB_OFFLINE=1 (offline mode)",
                            problems=[f"the export is complete in {folder}; push it later with "
                                      f"`hf upload {repo} {folder}` when online"])
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="antrenor export")
    except Exception as exc:  # network, auth and permission errors all end the same way for the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AntrenorError(f"could not push {folder} to {repo}: {first}",
                            problems=["online? logged in (`hf auth login` or HF_TOKEN)? allowed to write to that repo?",
                                      f"the export itself is complete in {folder}"]) from None
    return f"https://huggingface.co/{repo}"
