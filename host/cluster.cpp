#include "cluster.hpp"

#include <cstdlib>
#include <cstring>

#include "errors.hpp"

#if defined(SPECSWEEP_WITH_MPI)
#include <mpi.h>
#endif

namespace specsweep {

#if defined(SPECSWEEP_WITH_MPI)
namespace {

// A launcher that speaks to MPI left its mark in the environment.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

}  // namespace
#endif

Cluster& Cluster::instance() {
  static Cluster cluster;
  return cluster;
}

Cluster::Cluster() {
#if defined(SPECSWEEP_WITH_MPI)
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  initialized_mpi_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_free(&node);
#endif
}

Cluster::~Cluster() {
  complete_posted();
#if defined(SPECSWEEP_WITH_MPI)
  if (initialized_mpi_) MPI_Finalize();
#endif
}

void Cluster::send(int dest, int tag, const std::vector<char>& bytes) const {
#if defined(SPECSWEEP_WITH_MPI)
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD);
#else
  (void)dest, (void)tag, (void)bytes;
  throw RuntimeFailure("MPI messaging in a build without MPI");
#endif
}

void Cluster::post(int dest, int tag, std::vector<char> bytes) {
#if defined(SPECSWEEP_WITH_MPI)
  posted_.push_back(std::move(bytes));
  auto* request = new MPI_Request;
  MPI_Isend(posted_.back().data(), static_cast<int>(posted_.back().size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD,
            request);
  requests_.push_back(request);
#else
  (void)dest, (void)tag, (void)bytes;
  throw RuntimeFailure("MPI messaging in a build without MPI");
#endif
}

void Cluster::complete_posted() {
#if defined(SPECSWEEP_WITH_MPI)
  for (void* r : requests_) {
    auto* request = static_cast<MPI_Request*>(r);
    MPI_Wait(request, MPI_STATUS_IGNORE);
    delete request;
  }
#endif
  requests_.clear();
  posted_.clear();
}

std::vector<char> Cluster::receive(int& source, int& tag) const {
#if defined(SPECSWEEP_WITH_MPI)
  MPI_Status status;
  MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::vector<char> bytes(static_cast<size_t>(count));
  MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  source = status.MPI_SOURCE;
  tag = status.MPI_TAG;
  return bytes;
#else
  (void)source, (void)tag;
  throw RuntimeFailure("MPI messaging in a build without MPI");
#endif
}

bool Cluster::message_waiting() const {
#if defined(SPECSWEEP_WITH_MPI)
  int flag = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
  return flag != 0;
#else
  return false;
#endif
}

void Cluster::broadcast(std::vector<char>& bytes) const {
#if defined(SPECSWEEP_WITH_MPI)
  if (size_ == 1) return;
  long n = static_cast<long>(bytes.size());
  MPI_Bcast(&n, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  bytes.resize(static_cast<size_t>(n));
  MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD);
#else
  (void)bytes;
#endif
}

void Cluster::abort(int code) const {
#if defined(SPECSWEEP_WITH_MPI)
  if (initialized_mpi_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

void ByteReader::take(void* dst, size_t n) {
  if (at_ + n > bytes_.size()) throw RuntimeFailure("truncated message between ranks");
  std::memcpy(dst, bytes_.data() + at_, n);
  at_ += n;
}

}  // namespace specsweep
