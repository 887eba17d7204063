"""hubcache.py - make a Hugging Face hub cache by hand, as huggingface_hub
lays one out, without the hub (the tests have no network but Debian's and
PyPI's).

    hubcache.py add CACHE ORG/NAME SRC_FOLDER [REF]

adds the files of SRC_FOLDER as a new revision of models--ORG--NAME in
CACHE: each file becomes blobs/HASH (sha256 for .safetensors, as git-lfs
names them; the git blob sha1 for the rest), snapshots/COMMIT/PATH a
relative symbolic link to it, and refs/REF (default main) the commit, a
hash of the revision's listing. Blobs already there are kept (a file
unchanged between revisions is one blob). Prints the commit.
Plain Python: no third-party module."""
import hashlib
import os
import shutil
import sys


def blob_name(path):
    data = open(path, "rb").read()
    if path.endswith(".safetensors"):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def add(cache, repo_id, src, ref="main"):
    org, name = repo_id.split("/")
    repo = os.path.join(cache, f"models--{org}--{name}")
    files = []
    for root, _, names in os.walk(src):
        for n in names:
            p = os.path.join(root, n)
            files.append((os.path.relpath(p, src), p, blob_name(p)))
    files.sort()
    commit = hashlib.sha1("".join(f"{r} {h}\n" for r, _, h in files).encode()).hexdigest()
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    for rel, p, h in files:
        blob = os.path.join(repo, "blobs", h)
        if not os.path.exists(blob):
            shutil.copyfile(p, blob)
        link = os.path.join(repo, "snapshots", commit, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)
    with open(os.path.join(repo, "refs", ref), "w") as f:
        f.write(commit)
    return commit


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6) or sys.argv[1] != "add":
        sys.exit(__doc__)
    print(add(*sys.argv[2:]))
