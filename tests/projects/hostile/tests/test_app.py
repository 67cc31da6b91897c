import os
import subprocess
import sys

from app import set_scale, step


def test_step():
    assert float(step(1.0)) == 1.0
    set_scale(2.0)
    assert float(step(1.0)) == 2.0


def test_leaves_a_process_behind_and_writes_a_file():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open("written_by_a_test.txt", "w") as handle:
        handle.write("x")


def test_floods_the_output():
    print("x" * (4 << 20))


def test_exits_the_interpreter():
    os._exit(3)
