#!/usr/bin/env python3
"""Drive an interactive `ssh -t` through a real pty: check `stty size`, resize
the terminal (ssh forwards the window change), check again, exit 7.
usage: ptyshell.py SSH-ARGS...   (prints what it saw; exit 0 on success)"""
import fcntl, os, pty, select, signal, struct, sys, termios, time

def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

def read_until(fd, needle, timeout=15.0):
    buf, end = b"", time.time() + timeout
    while needle not in buf:
        left = end - time.time()
        if left <= 0:
            raise SystemExit("timeout waiting for %r; got %r" % (needle, buf[-300:]))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf

pid, fd = pty.fork()
if pid == 0:
    os.execvp("ssh", ["ssh", "-tt"] + sys.argv[1:])
set_size(fd, 30, 100)
os.kill(pid, signal.SIGWINCH)
time.sleep(0.3)
os.write(fd, b"stty size; echo MARK$((0+1))\n")
out = read_until(fd, b"MARK1\r\n")
if b"30 100" not in out:
    raise SystemExit("first size wrong: %r" % out[-200:])
set_size(fd, 45, 132)
os.kill(pid, signal.SIGWINCH)
time.sleep(0.5)
os.write(fd, b"stty size; tty; echo MARK$((0+2))\n")
out = read_until(fd, b"MARK2\r\n")
if b"45 132" not in out or b"/dev/pts/" not in out:
    raise SystemExit("size after window change wrong: %r" % out[-200:])
os.write(fd, b"exit 7\n")
read_until(fd, b"", 1)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 7:
    raise SystemExit("exit code %d, expected 7" % code)
print("pty ok")
