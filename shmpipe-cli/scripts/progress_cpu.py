#!/usr/bin/env python3
"""The CPU the --progress drawer uses: a `shmpipe write` blocked on a full ring for 5 s (no
reader), with and without --progress, three times; CPU time from wait4(2). Needs a release
build; removes the ring it creates.

    python3 shmpipe-cli/scripts/progress_cpu.py
"""
import os, subprocess, time, signal, sys
B=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release", "shmpipe")
def run(flag, secs=5.0):
    name=f"wt16cpu{os.getpid()}"
    p=subprocess.Popen([B,"write",name,"--capacity","64K",flag],stdin=open("/dev/zero","rb"),stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    time.sleep(secs)
    p.send_signal(signal.SIGINT)
    _,status,ru=os.wait4(p.pid,0)
    subprocess.run([B,"rm",name],stderr=subprocess.DEVNULL)
    return (ru.ru_utime+ru.ru_stime)*1000
for i in range(3):
    a=run("--no-progress"); b=run("--progress")
    print(f"writer blocked 5 s on a full ring: --no-progress {a:.1f} ms CPU, --progress {b:.1f} ms CPU")
