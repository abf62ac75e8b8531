"""Screenshot of what an annotator sees in a real browser after `zhner doccano push`.

    python bench/screenshot_annotator.py [--out docs/img/annotator-queue.png]

Starts a private Doccano (temporary home, free port), creates alice and bob, pushes three
pre-annotated segments to both, then has headless Chromium log in as alice and open the first
example of her queue (bench/screenshot_annotator.cjs; needs `apt-get install chromium` and
`npm install playwright-core` in a folder on NODE_PATH or beside the script).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from zhner.doccano import server
from zhner.doccano.sync import Connection, add_user, connect, push, queue_name
from zhner.doccano_settings import load_settings
from zhner.io import write_jsonl
from zhner.schemas import Span, Task, TaskMeta, text_sha1

HERE = Path(__file__).resolve().parent
SAMPLES = [
    ("shot1-000-00", "西藏自治区党委在拉萨市召开会议，部署春耕生产。", [(0, 7, "ORG"), (8, 11, "GPE")]),
    ("shot1-001-00", "2月21日上午，尼木县普松村捐赠12吨物资。", [(0, 7, "DATE"), (8, 11, "GPE"), (11, 14, "GPE"), (16, 19, "QUANTITY")]),
    ("shot2-000-00", "游客在祁连山下参观。", [(3, 6, "LOC")]),
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "img" / "annotator-queue.png")
    args = ap.parse_args()
    venv = load_settings().server.venv_path()
    with tempfile.TemporaryDirectory(prefix="shot-") as tmp:
        home = Path(tmp) / "home"
        creds = server.init(venv=venv, home=home)
        st = server.start(venv=venv, home=home, port=server.free_port(), workers=1)
        try:
            conn = Connection(st.url, creds.username, creds.password, home=home, venv=venv)
            for name in ("alice", "bob"):
                add_user(conn=conn, username=name, password=f"{name}-Shot-1")
            tasks = [Task(text=t, label=s, meta=TaskMeta(segment_id=sid, article_id=sid.split("-")[0], text_sha1=text_sha1(t),
                          model="zh_news_base", model_version="0.1", spans=[Span(start=a, end=b, label=lab, source="model", score=0.9)
                                                                         for a, b, lab in s]))
                     for sid, t, s in SAMPLES]  # fmt: skip
            write_jsonl(Path(tmp) / "t.jsonl", tasks)
            push(tasks_path=Path(tmp) / "t.jsonl", project="demo", conn=conn, annotators=["alice", "bob"])
            with connect(conn) as gw:
                project_id = gw.find_project(queue_name("demo", "alice")).id
            env = {**os.environ, "NODE_PATH": os.environ.get("NODE_PATH", str(HERE / "node_modules"))}
            subprocess.run(["node", str(HERE / "screenshot_annotator.cjs"), st.url, "alice", "alice-Shot-1",
                            str(project_id), str(args.out)], check=True, env=env, timeout=300)  # fmt: skip
        finally:
            server.stop(home=home)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
