/* The least a ptrace tracer that follows every descendant can cost: it records nothing and
 * resumes every stop at once. bench/record_overhead.sh compiles it (when a C compiler is
 * there) to show how much of `flightlog record`'s overhead is the kernel's and how much is
 * flightlog's own work.
 *
 *   trace_floor events CMD...    the stops flightlog's tracer takes: fork/vfork/clone and exec
 *                                events (PTRACE_SEIZE, no syscall stops)
 *   trace_floor seccomp CMD...   a seccomp filter that returns SECCOMP_RET_TRACE for execve and
 *                                execveat only (as `strace -f --seccomp-bpf` does), with fork
 *                                events to follow descendants and no exec event
 *   trace_floor notify CMD...    no ptrace: a seccomp filter that sends execve, execveat and
 *                                exit_group to this process as user notifications (Linux 5.5+),
 *                                each answered "continue" at once
 *
 * On exit it prints the stops it took, by kind, to stderr. Exit status: the command's. x86_64.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* notify = 0: RET_TRACE for execve/execveat. notify = 1: RET_USER_NOTIF for those and
 * exit_group; returns the listener. Other architectures and x32 calls are allowed through. */
static int install_filter(int notify) {
  unsigned ret = notify ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_TRACE;
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, notify ? SYS_exit_group : SYS_execve, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, ret),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                      notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
}

/* Runs CMD under the notifying filter and answers every notification with "continue". */
static int run_notify(char **cmd) {
  int go[2], back[2];
  if (pipe(go) != 0 || pipe(back) != 0) return perror("pipe"), 2;
  pid_t root = fork();
  if (root < 0) return perror("fork"), 2;
  if (root == 0) {
    char b;
    int fd = install_filter(1);
    if (fd < 0) {
      perror("seccomp");
      _exit(127);
    }
    if (write(back[1], &fd, sizeof fd) != sizeof fd || read(go[0], &b, 1) != 1) _exit(127);
    close(fd);
    execvp(cmd[0], cmd);
    perror(cmd[0]);
    _exit(127);
  }
  int child_fd;
  if (read(back[0], &child_fd, sizeof child_fd) != sizeof child_fd) return 2;
  int pidfd = (int)syscall(SYS_pidfd_open, root, 0);
  int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, child_fd, 0);
  if (fd < 0) return perror("pidfd_getfd"), 2;
  if (write(go[1], "g", 1) != 1) return 2;
  struct seccomp_notif_sizes sz;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) != 0) return perror("sizes"), 2;
  struct seccomp_notif *req = calloc(1, sz.seccomp_notif);
  struct seccomp_notif_resp *resp = calloc(1, sz.seccomp_notif_resp);
  long execs = 0, exits = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (!(p.revents & POLLIN)) break; /* POLLHUP: no task uses the filter any more */
    memset(req, 0, sz.seccomp_notif);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) continue; /* the task died meanwhile */
    if (req->data.nr == SYS_exit_group) exits++;
    else execs++;
    memset(resp, 0, sz.seccomp_notif_resp);
    resp->id = req->id;
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp);
  }
  int st, code = 255;
  if (waitpid(root, &st, 0) == root) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  fprintf(stderr, "notifications: exec %ld, exit_group %ld\n", execs, exits);
  return code;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "notify") == 0) return run_notify(argv + 2);
  if (argc < 3 || (strcmp(argv[1], "events") != 0 && strcmp(argv[1], "seccomp") != 0)) {
    fprintf(stderr, "usage: trace_floor events|seccomp|notify CMD...\n");
    return 2;
  }
  int seccomp = strcmp(argv[1], "seccomp") == 0;
  int go[2];
  if (pipe(go) != 0) return perror("pipe"), 2;
  pid_t root = fork();
  if (root < 0) return perror("fork"), 2;
  if (root == 0) {
    char b;
    close(go[1]);
    if (read(go[0], &b, 1) != 1) _exit(127);
    if (seccomp && install_filter(0) != 0) {
      perror("seccomp");
      _exit(127);
    }
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL;
  opts |= seccomp ? PTRACE_O_TRACESECCOMP : PTRACE_O_TRACEEXEC;
  if (ptrace(PTRACE_SEIZE, root, 0, opts) != 0) return perror("PTRACE_SEIZE"), 2;
  close(go[0]);
  if (write(go[1], "g", 1) != 1) return 2;
  close(go[1]);

  long fork_ev = 0, exec_ev = 0, seccomp_ev = 0, start = 0, signals = 0, exits = 0;
  int code = 255;
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, __WALL);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      exits++;
      if (p == root) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      continue;
    }
    if (!WIFSTOPPED(st)) continue;
    int ev = st >> 16, sig = 0;
    switch (ev) {
      case PTRACE_EVENT_FORK:
      case PTRACE_EVENT_VFORK:
      case PTRACE_EVENT_CLONE: fork_ev++; break;
      case PTRACE_EVENT_EXEC: exec_ev++; break;
      case PTRACE_EVENT_SECCOMP: seccomp_ev++; break;
      case PTRACE_EVENT_STOP: start++; break; /* a new child's first stop, or a group stop */
      case 0: signals++; sig = WSTOPSIG(st); break;
    }
    ptrace(PTRACE_CONT, p, 0, sig);
  }
  fprintf(stderr,
          "stops: fork/clone %ld, new task %ld, exec %ld, seccomp %ld, signal %ld; exits %ld\n",
          fork_ev, start, exec_ev, seccomp_ev, signals, exits);
  return code;
}
