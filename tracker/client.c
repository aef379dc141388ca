/* The `tracker` command when a C compiler was there at install time (hatch_build.py).

   A Python interpreter takes 10 to 20 ms to start before it runs a line of ours; this
   client takes well under one. It does what tracker/client.py does with the command
   server (that file describes the protocol; tests/test_client_c.py holds the two to one
   behaviour), and whenever the server cannot take the command it hands everything to the
   Python client installed beside it, `tracker-python`, which asks the server again, runs
   the command in-process if need be and starts a server for next time. So the C client
   never runs a command itself and never decides anything the Python client would decide
   differently: at worst a command costs the Python start-up it would have cost anyway.

   Its key ("c1:" + its own path, size and modification time + the environment variables
   a Python interpreter's start-up depends on) means nothing to a server until a Python
   client that this binary handed a command to vouches for it (TRACKER_C_KEY): the server
   then takes that key too, and knows how that interpreter would have set up its standard
   streams. The server checks its own code is current before it runs a command for it. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define PROTOCOL "tracker-server/1"
#define SOCKET_NAME "server.sock"
#define PYTHON_CLIENT "tracker-python"
#define HANDSHAKE_SECONDS 5

static const char *in_process[] = {"daemon", "remind", "server", NULL};
static const int relayed[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2};
#define N_RELAYED (sizeof relayed / sizeof relayed[0])

static char self_path[PATH_MAX];
static char key[16384];
static volatile sig_atomic_t worker_group = 0;
static volatile sig_atomic_t got[NSIG];

/* ------------------------------------------------------------------ a growing buffer */

struct buf {
    char *data;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t len) {
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + len + 1 > cap) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int field(struct buf *b, const char *text) {
    if (b->len && buf_add(b, "", 1)) return -1; /* the NUL between fields */
    return buf_add(b, text, strlen(text));
}

/* ------------------------------------------------------------------ falling back */

/* Hand the command to the Python client beside this binary: it does everything else. */
static void python_client(char **argv) {
    char path[PATH_MAX];
    const char *slash = strrchr(self_path, '/');
    size_t dir = slash ? (size_t)(slash - self_path) + 1 : 0;
    if (dir + sizeof PYTHON_CLIENT > sizeof path) _exit(1);
    memcpy(path, self_path, dir);
    memcpy(path + dir, PYTHON_CLIENT, sizeof PYTHON_CLIENT);
    if (key[0]) setenv("TRACKER_C_KEY", key, 1);
    argv[0] = path;
    execv(path, argv);
    dprintf(2, "Error: cannot run %s: %s\n", path, strerror(errno));
    _exit(1);
}

/* ------------------------------------------------------------------ where and what */

static int starts_with(const char *text, const char *prefix) {
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

static const char *command_name(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-') continue;
        return argv[i];
    }
    return NULL;
}

/* os.path.normpath of an absolute path, in place: no ".", "..", "//" or trailing "/". */
static void normalize(char *path) {
    char *out = path, *in = path;
    while (*in) {
        while (*in == '/') in++;
        char *end = strchrnul(in, '/');
        size_t len = (size_t)(end - in);
        if (len == 0 || (len == 1 && in[0] == '.')) {
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (out > path && *--out != '/') {
            }
        } else {
            *out++ = '/';
            memmove(out, in, len);
            out += len;
        }
        in = end;
    }
    if (out == path) *out++ = '/';
    *out = '\0';
}

/* client.data_dir() + "/" SOCKET_NAME, or 0 when only Python can tell (then it does). */
static int socket_path(char *out, size_t size) {
    const char *home = getenv("TRACKER_HOME");
    char path[PATH_MAX];
    if (home && *home) { /* os.path.abspath(os.path.expanduser(home)) */
        if (home[0] == '~') return 0; /* expanduser: Python's business */
        if (home[0] == '/') {
            if (snprintf(path, sizeof path, "%s", home) >= (int)sizeof path) return 0;
        } else {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof cwd)) return 0;
            if (snprintf(path, sizeof path, "%s/%s", cwd, home) >= (int)sizeof path) return 0;
        }
        normalize(path);
    } else {
        const char *xdg = getenv("XDG_DATA_HOME"); /* used as it is, if not blank */
        const char *space = " \t\n\r\v\f";
        int blank = 1;
        for (const char *c = xdg; c && *c; c++)
            if (!strchr(space, *c)) blank = 0;
        if (!blank) {
            if (strchr(space, xdg[0]) || strchr(space, xdg[strlen(xdg) - 1]))
                return 0; /* str.strip(): Python's business */
            if (snprintf(path, sizeof path, "%s/tracker", xdg) >= (int)sizeof path) return 0;
        } else { /* os.path.expanduser("~/.local/share"): $HOME without trailing "/" */
            const char *user = getenv("HOME");
            if (!user) return 0;
            size_t len = strlen(user);
            while (len && user[len - 1] == '/') len--;
            if (snprintf(path, sizeof path, "%.*s/.local/share/tracker", (int)len, user) >=
                (int)sizeof path)
                return 0;
        }
    }
    return snprintf(out, size, "%s/" SOCKET_NAME, path) < (int)size;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* This binary, and what a Python interpreter's start-up reads from the environment. */
static int make_key(void) {
    struct stat st;
    if (stat(self_path, &st)) return 0;
    int n = snprintf(key, sizeof key, "c1:%s:%lld:%lld", self_path, (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    size_t count = 0;
    for (char **e = environ; *e; e++) count++;
    char **wanted = calloc(count + 1, sizeof *wanted);
    if (!wanted) return 0;
    size_t found = 0;
    for (char **e = environ; *e; e++)
        if (starts_with(*e, "PYTHON") || starts_with(*e, "LC_ALL=") ||
            starts_with(*e, "LC_CTYPE=") || starts_with(*e, "LANG="))
            wanted[found++] = *e;
    qsort(wanted, found, sizeof *wanted, by_name);
    for (size_t i = 0; i < found && n > 0 && (size_t)n < sizeof key; i++)
        n += snprintf(key + n, sizeof key - (size_t)n, ";%s", wanted[i]);
    free(wanted);
    return n > 0 && (size_t)n < sizeof key;
}

/* ------------------------------------------------------------------ the wire */

static int send_all(int sock, const char *data, size_t len) {
    while (len) {
        ssize_t sent = send(sock, data, len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += sent;
        len -= (size_t)sent;
    }
    return 0;
}

static int recv_exact(int sock, char *out, size_t len) {
    while (len) {
        ssize_t got_now = recv(sock, out, len, 0);
        if (got_now < 0 && errno == EINTR) continue;
        if (got_now <= 0) return -1;
        out += got_now;
        len -= (size_t)got_now;
    }
    return 0;
}

/* One message's first field into out (NUL-terminated); -1 when the server has gone. */
static int recv_message(int sock, char *out, size_t size) {
    unsigned char head[4];
    if (recv_exact(sock, (char *)head, 4)) return -1;
    uint32_t len = (uint32_t)head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3];
    if (len >= size) return -1;
    if (recv_exact(sock, out, len)) return -1;
    out[len] = '\0';
    return 0;
}

static int send_request(int sock, struct buf *body, const int *fds, int nfds) {
    unsigned char head[4] = {body->len >> 24, body->len >> 16, body->len >> 8, body->len};
    struct buf whole = {0};
    if (buf_add(&whole, head, 4) || buf_add(&whole, body->data, body->len)) return -1;
    char control[CMSG_SPACE(4 * sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = {whole.data, whole.len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
    ssize_t sent;
    do sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    int failed = sent < 0 || send_all(sock, whole.data + sent, whole.len - (size_t)sent);
    free(whole.data);
    return failed ? -1 : 0;
}

/* ------------------------------------------------------------------ signals */

static void relay(int signum) {
    got[signum] = 1;
    if (worker_group > 0) killpg(worker_group, signum);
}

static void stop(int signum) {
    (void)signum; /* Ctrl-Z: stop the worker, then this client; `fg` continues both */
    if (worker_group > 0) killpg(worker_group, SIGTSTP);
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP);
    signal(SIGTSTP, stop);
}

static void resume(int signum) {
    (void)signum;
    if (worker_group > 0) killpg(worker_group, SIGCONT);
}

static void on(int signum, void (*handler)(int)) {
    struct sigaction action = {0};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    sigaction(signum, &action, NULL);
}

/* ------------------------------------------------------------------ the command */

int main(int argc, char **argv) {
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0) {
        dprintf(2, "Error: cannot find where this tracker is installed\n");
        return 1;
    }
    self_path[n] = '\0';

    const char *off = getenv("TRACKER_NO_SERVER");
    if (off && *off && strcmp(off, "0") != 0) python_client(argv);
    const char *name = command_name(argc, argv);
    for (const char **c = in_process; name && *c; c++)
        if (strcmp(name, *c) == 0) python_client(argv);
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) python_client(argv);

    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (!make_key() || !socket_path(path, sizeof path)) python_client(argv);

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strcpy(address.sun_path, path);
    struct timeval wait = {HANDSHAKE_SECONDS, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
    if (sock < 0 || connect(sock, (struct sockaddr *)&address, sizeof address))
        python_client(argv);

    int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (here < 0) python_client(argv);
    mode_t mask = umask(077);
    umask(mask);

    struct buf body = {0};
    char number[32];
    snprintf(number, sizeof number, "%o", (unsigned)mask);
    int failed = field(&body, PROTOCOL) || field(&body, key) || field(&body, "run") ||
                 field(&body, number) || field(&body, argv[0]);
    for (int i = 0; i < 12; i++) failed |= field(&body, "?"); /* the server knows them */
    snprintf(number, sizeof number, "%d", argc - 1);
    failed |= field(&body, number);
    for (int i = 1; i < argc; i++) failed |= field(&body, argv[i]);
    for (char **e = environ; *e; e++) failed |= field(&body, *e);
    int fds[4] = {0, 1, 2, here};
    char answer[256];
    if (failed || send_request(sock, &body, fds, 4) ||
        recv_message(sock, answer, sizeof answer) || answer[0] != 'S') {
        close(sock); /* refused, or nothing started: the Python client takes it */
        close(here);
        python_client(argv);
    }
    close(here);
    free(body.data);

    worker_group = atoi(answer + 1);
    for (size_t i = 0; i < N_RELAYED; i++) on(relayed[i], relay);
    on(SIGTSTP, stop);
    on(SIGCONT, resume);
    if (send_all(sock, "G", 1)) {
        dprintf(2, "Error: the command server went away as the command started; it was "
                   "not run again (set TRACKER_NO_SERVER=1 to run without it)\n");
        return 1;
    }
    struct timeval forever = {0, 0};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof forever);
    if (recv_message(sock, answer, sizeof answer)) {
        dprintf(2, "Error: lost the command server while the command ran; it was not run "
                   "again (set TRACKER_NO_SERVER=1 to run without it)\n");
        return 1;
    }
    int value = atoi(answer + 1);
    if (answer[0] == 'X') return value;
    if (value > 0 && value < NSIG && got[value]) {
        /* It died of a signal this client was sent: die of it too, as in-process. */
        signal(value, SIG_DFL);
        kill(getpid(), value);
    }
    dprintf(2, "Error: the command was killed by signal %d in the command server; it may "
               "have stopped part way (its change, if any, is whole or absent)\n", value);
    return 128 + value;
}
