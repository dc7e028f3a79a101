#pragma once
// Reading a damaged HDF5 file in a child process. HDF5 1.10 can crash on some damage (a SEGV in
// its global heap reader when a string's size is damaged, over-reads in its object header walk,
// leaks on error paths) and can loop forever on other damage; a crash or a hang while reading a
// user's file must instead be an error naming the file (exit 2), with the file as it was.
// `--resume` and `report` read a file this way first, then read it again in their own process
// once the child found nothing wrong. The child only reads HDF5 and allocates: it touches neither
// MPI nor CUDA, which do not support a forked child, and other threads of the parent do not exist
// in it (glibc's allocator is made safe across fork; HDF5 here is the serial build, under the
// parent's lock).
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

namespace specsweep {

// Where a damaged file is first read: in a child process (the default of every reader), or in
// this one (the fuzz targets, whose coverage must see the code the reading reaches).
enum class ReadIn { child_process, this_process };

// How a check ended, as the child sends it to its parent: the error it threw, if any (the class
// and its message), and a few bytes of data of the caller's own.
struct ChildVerdict {
  enum Kind : char { fine = 'F', input = 'I', unusable = 'U', failure = 'R' };
  Kind kind = fine;
  std::string message;
  std::string data;  // at most 255 bytes

  std::string encode() const;
  static std::optional<ChildVerdict> decode(const std::string& bytes);
  // Throws what the check threw (InputError, UnusablePartial, RuntimeFailure); returns if fine.
  void rethrow() const;
};

// Runs `check`, turning what it throws into the verdict (with `data` left empty).
ChildVerdict verdict_of(const std::function<void()>& check);

// Runs `check` (given a descriptor its verdict may also be written to, for a watchdog that must
// end the child) in a child process that ends with _exit, so it flushes and closes nothing of the
// parent's. Returns its verdict, or nullopt with `how_it_ended` ("signal 11, Segmentation fault",
// "exit status 1") when it gave none. Where no child can be made (fork fails) the check runs in
// this process, with -1 as its descriptor.
std::optional<ChildVerdict> run_in_child(const std::function<ChildVerdict(int verdict_fd)>& check,
                                         std::string& how_it_ended);

// Writes all `size` bytes at `data` to `fd`, retrying short writes; 0 or the errno.
int write_all(int fd, const void* data, std::size_t size);

}  // namespace specsweep
