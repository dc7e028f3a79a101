#pragma once
// The ranks of an MPI job. Built without MPI, or started without a launcher (mpirun, srun), it is
// one rank and no MPI call is ever made. Public headers carry no MPI types.
#include <string>
#include <vector>

namespace specsweep {

class Cluster {
 public:
  // The process-wide instance; the first call initializes MPI when a launcher started us.
  static Cluster& instance();
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank among the ranks on this node (GPU binding): the shared-memory split of the world.
  int local_rank() const { return local_rank_; }
  bool root() const { return rank_ == 0; }

  // Point-to-point byte messages; a message is (tag, bytes).
  void send(int dest, int tag, const std::vector<char>& bytes) const;
  // Starts a send and returns at once, keeping the bytes until it completes: a large message is
  // delivered only when the receiver asks for it, and the sender need not wait for that.
  void post(int dest, int tag, std::vector<char> bytes);
  // Waits for every posted send.
  void complete_posted();
  // Blocks for the next message from any rank; returns its source and tag.
  std::vector<char> receive(int& source, int& tag) const;
  // Whether a message is waiting (then receive() returns it without blocking).
  bool message_waiting() const;
  // Root's bytes to every rank.
  void broadcast(std::vector<char>& bytes) const;
  // Ends every rank of the job with this exit code (an error on one rank that the others cannot
  // learn about any other way).
  [[noreturn]] void abort(int code) const;

 private:
  Cluster();
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  [[maybe_unused]] bool initialized_mpi_ = false;  // read only in builds with MPI
  std::vector<std::vector<char>> posted_;
  std::vector<void*> requests_;  // MPI_Request handles, owned here
};

// Append-only byte buffer for messages, and its reader.
class ByteWriter {
 public:
  template <class T>
  void put(const T& value) {
    const char* p = reinterpret_cast<const char*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  template <class T>
  void put(const std::vector<T>& values) {
    put(static_cast<long>(values.size()));
    const char* p = reinterpret_cast<const char*>(values.data());
    bytes_.insert(bytes_.end(), p, p + values.size() * sizeof(T));
  }
  void put(const std::string& s) { put(std::vector<char>(s.begin(), s.end())); }
  std::vector<char>& bytes() { return bytes_; }

 private:
  std::vector<char> bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  template <class T>
  void get(T& value) {
    take(&value, sizeof(T));
  }
  template <class T>
  void get(std::vector<T>& values) {
    long n = 0;
    get(n);
    values.resize(static_cast<size_t>(n));
    take(values.data(), values.size() * sizeof(T));
  }
  void get(std::string& s) {
    std::vector<char> v;
    get(v);
    s.assign(v.begin(), v.end());
  }

 private:
  void take(void* dst, size_t n);
  const std::vector<char>& bytes_;
  size_t at_ = 0;
};

}  // namespace specsweep
