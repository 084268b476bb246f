/**
 * The spawn helper's program (Python 3.8 or later, standard library only). It reads spawn requests on
 * stdin and answers on stdout:
 *
 *   request:  "<payload bytes>\n" + payload, the payload NUL-separated:
 *             id, cwd ("" = the helper's), output file (appended to), argc, argv..., then NAME=VALUE...
 *   answers:  "R\n"                                  it is ready (its first line)
 *             "S\t<id>\t<pid>\n"                    the job's process has exec'd (its own session and group)
 *             "F\t<id>\t<ERRNO NAME>\n"             it could not start (chdir, open or exec failed)
 *             "E\t<id>\t<code>\t<signal number>\n"   it ended (code empty when a signal ended it)
 *
 * posix_spawn starts a process without copying the helper's memory (glibc uses vfork), which is what
 * makes it cheap. The helper ignores the terminal's signals (the worker stops jobs itself and must hear
 * how they ended) and leaves once its stdin is closed and its last job has ended.
 */
export const SPAWN_HELPER_PY = String.raw`
import errno, os, select, signal
IGNORED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ}
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(s, signal.SIG_IGN)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
# A child's end writes to wake_w from C at once, so select below cannot miss it.
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
home = os.getcwd()
jobs = {}

def reply(line):
    data = line + b'\n'
    while data:
        data = data[os.write(1, data):]

def reap():
    while jobs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = jobs.pop(pid, None)
        if job is None:
            continue
        if os.WIFSIGNALED(status):
            reply(b'E\t%s\t\t%d' % (job, os.WTERMSIG(status)))
        else:
            reply(b'E\t%s\t%d\t' % (job, os.WEXITSTATUS(status)))

def start(t):
    job, cwd, out, argc = t[0], t[1], t[2], int(t[3])
    argv = t[4:4 + argc]
    env = {}
    for kv in t[4 + argc:]:
        k, sep, v = kv.partition(b'=')
        if sep and k:
            env[k] = v
    fd = -1
    try:
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if cwd:
            os.chdir(cwd)
        # posix_spawnp searches the PATH of this process: the job's, as node's spawn does.
        if b'PATH' in env:
            os.environb[b'PATH'] = env[b'PATH']
        else:
            os.environb.pop(b'PATH', None)
        try:
            pid = os.posix_spawnp(argv[0], argv, env, setsid=True, setsigdef=IGNORED, setsigmask=(),
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
        finally:
            if cwd:
                os.chdir(home)
    except OSError as e:
        reply(b'F\t%s\t%s' % (job, errno.errorcode.get(e.errno, 'EIO').encode()))
        return
    finally:
        if fd >= 0:
            os.close(fd)
    jobs[pid] = job
    reply(b'S\t%s\t%d' % (job, pid))

if not hasattr(os, 'posix_spawnp'):  # before Python 3.8: node starts the jobs
    raise SystemExit(3)
reply(b'R')
buf = b''
eof = False
while True:
    reap()
    if eof and not jobs:
        break
    ready = select.select([wake_r] if eof else [0, wake_r], [], [])[0]
    if wake_r in ready:
        try:
            while os.read(wake_r, 4096):
                pass
        except BlockingIOError:
            pass
    if 0 in ready:
        chunk = os.read(0, 65536)
        if not chunk:
            eof = True
        buf += chunk
        while True:
            nl = buf.find(b'\n')
            if nl < 0 or len(buf) < nl + 1 + int(buf[:nl]):
                break
            end = nl + 1 + int(buf[:nl])
            payload, buf = buf[nl + 1:end], buf[end:]
            start(payload.split(b'\0'))
`;
