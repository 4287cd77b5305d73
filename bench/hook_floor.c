/* The least a durable hook can do: read the payload on stdin, append 1 KB to a file and
 * fdatasync it, then exit. bench/ratios.sh compiles it (when a C compiler is there) and times
 * it beside a bare process start and `flightlog hook`, so the hook's ratio can be read against
 * what any process that makes one write durable pays on this disk.
 *
 *   hook_floor FILE < payload
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char buf[1024];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
    }
    memset(buf, 'x', sizeof buf);
    buf[sizeof buf - 1] = '\n';
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return 1;
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) return 1;
    if (fdatasync(fd) != 0) return 1;
    return close(fd) != 0;
}
