//===- Trainer.h - run a compiled training step ----------------*- C++ -*-===//
#ifndef SLAPO_RUNTIME_TRAINER_H
#define SLAPO_RUNTIME_TRAINER_H

#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Checkpoint.h"
#include "slapo/Runtime/Communicator.h"
#include "slapo/Runtime/Plan.h"
#include "slapo/Runtime/Shards.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

class Trainer {
public:
  /// The plan's executor on `backend`: binds every kernel call to the
  /// backend's kernel for its operand dtypes (failing, by name, where the
  /// backend has none) and allocates the plan's arena in the backend's
  /// memory (one allocation: every tensor and the kernels' workspace live
  /// in it). `groups.tp` must have the plan's tp ranks.
  static std::unique_ptr<Trainer> create(std::unique_ptr<Plan> plan,
                                         std::unique_ptr<Backend> backend,
                                         ProcessGroups groups,
                                         std::string &error);
  /// The same on the CPU backend, for one rank of a job...
  static std::unique_ptr<Trainer>
  create(std::unique_ptr<Plan> plan, ProcessGroups groups, std::string &error);
  /// ... or for one process (the plan must be compiled for tp 1).
  static std::unique_ptr<Trainer> create(std::unique_ptr<Plan> plan,
                                         std::string &error);
  ~Trainer();

  const Plan &plan() const { return *thePlan; }
  const ProcessGroups &groups() const { return theGroups; }

  /// Hugging Face initialisation: normal(0, std) weights, zero biases, unit
  /// norms, from `seed`; optimizer state zero. A sharded parameter gets its
  /// block of the tensor one process would draw.
  void initialize(uint64_t seed);

  /// What loading a checkpoint left out.
  struct LoadReport {
    std::vector<std::string> unused;      // checkpoint tensors nothing took
    std::vector<std::string> initialised; // added parameters kept as drawn
  };
  /// Loads every parameter by Hugging Face name from a checkpoint (see
  /// Checkpoint.h: F32, BF16 or F16 safetensors, one file or sharded; each
  /// rank reads its block). Parameters a schedule added (LoRA adapters)
  /// that the checkpoint lacks keep their initialisation. Fails, naming
  /// the tensor, on a missing name, a shape mismatch, an unreadable dtype
  /// or a non-finite value.
  bool loadWeights(const std::string &path, std::string &error,
                   LoadReport *report = nullptr);
  /// Loads every parameter the plan reads from a file of its own
  /// (ParamInfo::initFile: a `sparsify` predictor's weights), by name,
  /// whatever initialize or loadWeights gave it. Fails, naming the file and
  /// the tensor, as loadWeights does.
  bool loadParameterFiles(std::string &error);
  /// Writes every parameter by Hugging Face name, whole, to a .safetensors
  /// file or a Hugging Face model directory (with the plan's config.json):
  /// collective over the tensor-parallel group, written by the job's first
  /// rank only.
  bool saveWeights(const std::string &path, std::string &error,
                   const SaveOptions &options = {}) const;
  /// The whole tensor of `param` (collective over the tensor-parallel
  /// group).
  std::vector<float> fullParameter(const ParamInfo &param) const;
  /// The whole tensor of `tensor`, which is split as `param` is (its
  /// optimizer state; collective over the tensor-parallel group).
  std::vector<float> fullTensor(int32_t tensor, const ParamInfo &param) const;
  /// Sets this rank's block of `tensor`, split as `param` is, from the
  /// whole tensor `name` of a safetensors file.
  bool readBlock(int32_t tensor, const ParamInfo &param,
                 const SafetensorsFile &file, const SafetensorsEntry &entry,
                 const std::string &name, std::string &error);
  /// The optimizer state of each trainable parameter: (param, tensor,
  /// name), the names PyTorch's AdamW gives its state ("exp_avg",
  /// "exp_avg_sq") after the parameter's.
  struct StateTensor {
    const ParamInfo *param;
    int32_t tensor;
    std::string name;
  };
  std::vector<StateTensor> optimizerState() const;
  int64_t completedSteps() const { return stepCount; }
  /// How `param` is split over the tensor-parallel group.
  ShardLayout layoutOf(const ParamInfo &param) const;
  /// True on the rank that writes files for the job.
  bool writesFiles() const {
    return theGroups.tp->rank() == 0 && theGroups.dp->rank() == 0;
  }

  /// Checks that a global batch of `rows` rows splits over the
  /// data-parallel ranks into whole micro-batches of plan().batch rows.
  bool checkGlobalBatch(int64_t rows, std::string &error) const;

  /// One optimizer step on a global batch: `ids` and `targets` are [rows,
  /// seq], the same on every rank. This rank computes its data-parallel
  /// share in micro-batches of plan().batch rows; gradients are averaged
  /// over every counted token of the global batch (bucketed all-reduce on
  /// the data-parallel group), then every rank applies the same update.
  /// Returns the global batch's mean loss. Rows must pass checkGlobalBatch.
  float step(const int64_t *ids, const int64_t *targets, int64_t rows,
             double lr);

  /// The loss of a global batch without training on it.
  struct Evaluation {
    double lossSum = 0.0; // mean loss times counted targets
    int64_t targets = 0;  // targets that count
    /// predictorStats() summed over the batch's micro-batches (on every
    /// data-parallel rank), and how many there were.
    std::vector<double> predictorStats;
    int64_t microBatches = 0;
  };
  /// Whether the plan has an evaluation entry ("eval_step": plans written
  /// before it was added have none).
  bool hasEvaluation() const { return thePlan->entry("eval_step"); }
  /// Runs the plan's forward pass up to the loss ("eval_step"), dropout
  /// off, on a global batch laid out as step() takes it; parameters,
  /// gradients, optimizer state and the step count do not change. The
  /// sum is over the whole batch (every data-parallel rank's share).
  Evaluation evaluate(const int64_t *ids, const int64_t *targets, int64_t rows);

  /// Gradient all-reduce bucket size (bytes).
  void setBucketBytes(uint64_t bytes) { bucketBytes = bytes; }

  /// Clips every step's gradients to a global L2 norm of at most
  /// `maxNorm` (0: never), as torch.nn.utils.clip_grad_norm_ does: the
  /// norm is over every trainable gradient of the whole model (a sharded
  /// one's blocks summed over the tensor-parallel group, a replicated one
  /// counted once), and above `maxNorm` every gradient is scaled by
  /// maxNorm / (norm + 1e-6). False, with `error`, for a plan whose
  /// updates do not close its step (hasGradientNorm()).
  bool setMaxGradNorm(double maxNorm, std::string &error);
  /// Whether the plan's gradients are all complete before its first
  /// update, so that their norm can be measured.
  bool hasGradientNorm() const { return !gradients.empty(); }
  /// The last step's global gradient norm, before clipping (NaN without
  /// hasGradientNorm()).
  double gradientNorm() const { return lastGradientNorm; }

  /// When on, a step whose loss (or measured gradient norm) is not finite
  /// applies no update: the parameters and the optimizer state stay as
  /// they were (the step still counts, so a resumed run stays in step).
  /// Every rank sees the same reduced loss, so every rank decides alike.
  void setSkipNonFiniteUpdates(bool on) { skipNonFinite = on; }
  /// Whether the last step's update was skipped (its loss or gradient
  /// norm was not finite, with setSkipNonFiniteUpdates on).
  bool lastUpdateSkipped() const { return updateSkipped; }

  /// The step's inputs, [batch, seq] each.
  int64_t *inputIds();
  int64_t *targets();

  /// Runs one training step (forward, backward, update) on the plan's
  /// batch already in inputIds()/targets(), with learning rate `lr`;
  /// returns the loss. Steps are numbered from 1. For one data-parallel
  /// rank (dp 1).
  float step(double lr);

  /// Where `tensor` lives in the backend's memory (host-readable only on
  /// a host backend: use readTensor / writeTensor to move values).
  float *data(int32_t tensor) const;
  /// A host copy of `tensor`'s float values.
  std::vector<float> readTensor(int32_t tensor) const;
  /// Sets `tensor` from host float values.
  void writeTensor(int32_t tensor, const float *host);
  /// The loss of the last step run.
  float loss() const;
  /// A `predictor=train` plan's statistics of the last micro-batch run (4
  /// a sparsified layer, Plan::predictorStats); empty for other plans.
  std::vector<float> predictorStats() const;
  const Backend &backend() const { return *theBackend; }

  /// Sets how many steps are done (resuming a run): the next step is
  /// `completed + 1`, which decides AdamW's bias correction and the
  /// dropout masks.
  void setCompletedSteps(int64_t completed) { stepCount = completed; }
  /// Sets the seed dropout draws from (resuming a run; initialize() sets
  /// it too).
  void setSeed(uint64_t newSeed) { seed = newSeed; }
  uint64_t initialSeed() const { return seed; }

  /// With training off, dropout passes values through unchanged (the
  /// gradients are those of the deterministic model).
  void setTraining(bool on) { training = on; }

  /// Records the time of every kernel call from now on.
  void enableProfiling() { profiling = true; }
  /// Seconds spent per kernel name, as recorded; the data-parallel
  /// gradient all-reduce is "(gradient all_reduce)".
  const std::map<std::string, double> &profile() const { return seconds; }

private:
  Trainer() = default;
  /// Runs kernels [begin, end) through the backend; `after`, if given, is
  /// called after each kernel k with k (inside the backend's run, so what
  /// it issues is captured and replayed with the kernels).
  void runKernels(size_t begin, size_t end, int64_t microBatch,
                  const std::function<void(size_t)> *after = nullptr);
  /// The data-parallel buckets over `flatGradients` for bucketBytes.
  void planBuckets();
  /// Adds gradientWeight * gradient into `flatGradients` for each gradient
  /// whose last writer is `kernel` (every gradient for stepEnd), with the
  /// weight of the last run's scalars.
  void accumulateGradients(size_t kernel);
  /// Starts the all-reduce, on the backend's side stream, of each bucket
  /// that is complete after `kernel`.
  void reduceBuckets(size_t kernel);
  /// Waits for the buckets and copies the sums back into the gradients.
  void finishReduction();
  /// Targets among `n` that count (not the ignore index).
  int64_t countTargets(const int64_t *targets, int64_t n) const;
  /// Copies micro-batch `index` of a global batch into the plan's inputs.
  void loadMicroBatch(const int64_t *ids, const int64_t *targets,
                      int64_t index);
  /// Measures the global gradient norm and clips to maxGradNorm.
  void measureAndClipGradients();
  /// The update kernels, unless skipNonFinite and `loss` or the gradient
  /// norm is not finite.
  void applyUpdate(float loss);
  /// Sums `count` (at most kScalarScratch) host floats over `group`, whose
  /// collectives take the backend's memory.
  void sumOverGroup(Communicator &group, float *values, int64_t count);

  std::unique_ptr<Plan> thePlan;
  std::unique_ptr<Backend> theBackend;
  std::vector<KernelFn> bound; // each call's kernel on the backend
  ProcessGroups theGroups;
  SelfCommunicator self;
  size_t stepBegin = 0, stepEnd = 0; // the train_step entry's kernels
  size_t updateBegin = 0;            // its first optimizer-update kernel
  std::vector<int32_t> gradients;    // each update's gradient tensor
  std::vector<size_t> gradientReady; // ... and its last writer's index
  struct Bucket {
    int64_t first, count; // floats of flatGradients
    size_t ready;         // the kernel after which all of it is added
  };
  std::vector<Bucket> buckets;
  uint64_t plannedBucketBytes = 0;
  bool sideForked = false;           // the side stream has work to join
  std::vector<bool> gradientSharded; // ... is one tp rank's block
  double maxGradNorm = 0.0;
  double lastGradientNorm = 0.0;
  bool skipNonFinite = false;
  bool updateSkipped = false;
  float *flatGradients = nullptr; // their weighted sum, back to back,
  int64_t flatCount = 0;          // in the backend's memory
  int64_t ignoreIndex = -100;
  uint64_t bucketBytes = 25ull << 20;
  uint8_t *arena = nullptr;
  static constexpr int64_t kScalarScratch = 16;
  float *scalarScratch = nullptr; // in the backend's memory
  int64_t stepCount = 0;
  uint64_t seed = 0;
  double learningRate = 0.0;
  float gradientWeight = 0.0f; // this micro-batch's share of the tokens
  bool profiling = false;
  bool training = true;
  std::map<std::string, double> seconds;
};

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_TRAINER_H
