#include "in_child.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "errors.hpp"
#include "h5_output.hpp"

namespace specsweep {

std::string ChildVerdict::encode() const {
  const std::size_t size = data.size() < 255 ? data.size() : 255;
  return std::string{char(kind), char(size)} + data.substr(0, size) + message;
}

std::optional<ChildVerdict> ChildVerdict::decode(const std::string& bytes) {
  if (bytes.size() < 2 || std::string("FIUR").find(bytes[0]) == std::string::npos)
    return std::nullopt;
  const std::size_t size = static_cast<unsigned char>(bytes[1]);
  if (bytes.size() < 2 + size) return std::nullopt;
  return ChildVerdict{Kind(bytes[0]), bytes.substr(2 + size), bytes.substr(2, size)};
}

void ChildVerdict::rethrow() const {
  switch (kind) {
    case fine:
      return;
    case input:
      throw InputError(message);
    case unusable:
      throw UnusablePartial(message);
    case failure:
      throw RuntimeFailure(message);
  }
}

ChildVerdict verdict_of(const std::function<void()>& check) {
  try {
    check();
    return {};
  } catch (const UnusablePartial& e) {
    return {ChildVerdict::unusable, e.what(), {}};
  } catch (const InputError& e) {
    return {ChildVerdict::input, e.what(), {}};
  } catch (const std::exception& e) {
    return {ChildVerdict::failure, e.what(), {}};
  }
}

std::optional<ChildVerdict> run_in_child(const std::function<ChildVerdict(int)>& check,
                                         std::string& how_it_ended) {
  int fds[2];
  if (::pipe(fds) != 0) return check(-1);
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return check(-1);
  }
  if (child == 0) {
    ::close(fds[0]);
    const std::string verdict = check(fds[1]).encode();
    ::_exit(write_all(fds[1], verdict.data(), verdict.size()) == 0 ? 0 : 1);
  }
  ::close(fds[1]);
  std::string bytes;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    how_it_ended =
        "signal " + std::to_string(WTERMSIG(status)) + ", " + strsignal(WTERMSIG(status));
  else
    how_it_ended = "exit status " + std::to_string(WEXITSTATUS(status));
  return ChildVerdict::decode(bytes);
}

int write_all(int fd, const void* data, std::size_t size) {
  const char* at = static_cast<const char*>(data);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, at + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace specsweep
