//===- Trainer.cpp - run a compiled training step -------------------------===//

#include "slapo/Runtime/Trainer.h"
#include "Random.h"
#include "slapo/Runtime/Backend.h"
#include "slapo/Runtime/Checkpoint.h"
#include "slapo/Runtime/Kernels.h"
#include "slapo/Runtime/Safetensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace slapo::rt {

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

bool isUpdate(const KernelCall &call) {
  return call.name == "sgd_update" || call.name == "adamw_update";
}

/// Why the sync kernels of `plan` cannot run on a group of `ranks`, or "".
std::string checkSyncs(const Plan &plan, int ranks) {
  for (const KernelCall &call : plan.kernels) {
    if (call.name != "sync")
      continue;
    int64_t in = plan.tensors[call.inputs[0]].numel();
    int64_t out = plan.tensors[call.outputs[0]].numel();
    const std::string &kind = call.attrs.at("forward").s;
    bool fits = kind == "all_gather" ? out == in * ranks
                : kind == "split" || kind == "reduce_scatter"
                    ? in == out * ranks
                    : in == out;
    if (call.intAttr("tp", 1) != ranks || !fits)
      return "a " + kind + " sync does not fit a group of " +
             std::to_string(ranks) + " ranks";
  }
  return "";
}

} // namespace

std::unique_ptr<Trainer> Trainer::create(std::unique_ptr<Plan> plan,
                                         std::string &error) {
  return create(std::move(plan), ProcessGroups{}, error);
}

std::unique_ptr<Trainer> Trainer::create(std::unique_ptr<Plan> plan,
                                         ProcessGroups groups,
                                         std::string &error) {
  std::unique_ptr<Backend> backend = createBackend("cpu", error);
  if (!backend)
    return nullptr;
  return create(std::move(plan), std::move(backend), groups, error);
}

std::unique_ptr<Trainer> Trainer::create(std::unique_ptr<Plan> plan,
                                         std::unique_ptr<Backend> backend,
                                         ProcessGroups groups,
                                         std::string &error) {
  auto trainer = std::unique_ptr<Trainer>(new Trainer());
  if (!groups.tp)
    groups.tp = &trainer->self;
  if (!groups.dp)
    groups.dp = &trainer->self;
  int ranks = groups.tp->size();
  if (plan->tp != ranks) {
    error = "the plan is one rank of a " + std::to_string(plan->tp) +
            "-way tensor-parallel model";
    error += ranks == 1 && groups.dp->size() == 1
                 ? ": launch it on a multiple of " + std::to_string(plan->tp) +
                       " processes (mpirun -np " + std::to_string(plan->tp) +
                       " slapo-run ...), or compile with --tp 1 for one"
                 : ", but its tensor-parallel group has " +
                       std::to_string(ranks) + " ranks";
    return nullptr;
  }
  if (std::string problem = checkSyncs(*plan, ranks); !problem.empty()) {
    error = "the plan does not match its process group: " + problem;
    return nullptr;
  }
  // The executor binds each call to the backend's kernel for its operands'
  // dtypes.
  for (const KernelCall &call : plan->kernels) {
    std::vector<DType> dtypes;
    std::string shown;
    for (const std::vector<int32_t> *list : {&call.inputs, &call.outputs})
      for (int32_t index : *list) {
        dtypes.push_back(plan->tensors[index].dtype);
        shown +=
            std::string(shown.empty() ? "" : ", ") + dtypeName(dtypes.back());
      }
    KernelFn fn = backend->findKernel(call.name, dtypes);
    if (!fn) {
      error = std::string("the ") + backend->name() + " backend has no '" +
              call.name + "' kernel for operands (" + shown + ")";
      return nullptr;
    }
    trainer->bound.push_back(fn);
  }
  trainer->arena =
      static_cast<uint8_t *>(backend->allocate(plan->arenaBytes, error));
  if (!trainer->arena) {
    error = "the " + std::to_string(plan->arenaBytes) + "-byte arena: " + error;
    return nullptr;
  }
  trainer->theBackend = std::move(backend);
  trainer->scalarScratch = static_cast<float *>(trainer->theBackend->allocate(
      Trainer::kScalarScratch * sizeof(float), error));
  if (!trainer->scalarScratch)
    return nullptr;
  // The train_step entry function (the loader made sure there is one). Its
  // optimizer updates close it: what comes before them computes gradients,
  // which data parallelism reduces in between.
  const EntryFunction &train = *plan->entry("train_step");
  trainer->stepBegin = train.first;
  trainer->stepEnd = train.first + train.count;
  const std::vector<KernelCall> &kernels = plan->kernels;
  size_t first = trainer->stepEnd;
  while (first > trainer->stepBegin && isUpdate(kernels[first - 1]))
    --first;
  trainer->updateBegin = first;
  for (size_t i = trainer->stepBegin; i < first; ++i)
    if (isUpdate(kernels[i]))
      trainer->updateBegin = trainer->stepEnd; // interleaved: no reduction
  for (size_t i = first; i < trainer->stepEnd; ++i) {
    int32_t gradient = kernels[i].inputs[0];
    trainer->gradients.push_back(gradient);
    // The kernel after which the gradient is complete: its last writer
    // before the updates (the data-parallel reduction of its bucket can
    // start there).
    size_t ready = trainer->stepBegin;
    for (size_t k = trainer->stepBegin; k < first; ++k)
      for (int32_t out : kernels[k].outputs)
        if (out == gradient)
          ready = k;
    trainer->gradientReady.push_back(ready);
  }
  for (size_t i = trainer->stepBegin; i < trainer->stepEnd; ++i)
    if (kernels[i].name == "cross_entropy")
      trainer->ignoreIndex = kernels[i].intAttr("ignore_index", -100);
  trainer->theGroups = groups;
  trainer->thePlan = std::move(plan);
  // Interleaved updates leave no point where every gradient is complete.
  if (trainer->updateBegin == trainer->stepEnd) {
    trainer->gradients.clear();
    trainer->gradientReady.clear();
  }
  for (size_t i = trainer->updateBegin; i < trainer->stepEnd; ++i) {
    int32_t param = kernels[i].outputs[0];
    bool sharded = false;
    for (const ParamInfo &info : trainer->thePlan->params)
      if (info.tensor == param)
        sharded = trainer->layoutOf(info).sharded();
    trainer->gradientSharded.push_back(sharded);
  }
  trainer->lastGradientNorm = trainer->gradients.empty() ? std::nan("") : 0.0;
  return trainer;
}

Trainer::~Trainer() {
  if (scalarScratch)
    theBackend->release(scalarScratch);
  if (flatGradients)
    theBackend->release(flatGradients);
  if (arena)
    theBackend->release(arena);
}

std::vector<float> Trainer::readTensor(int32_t tensor) const {
  std::vector<float> host(size_t(thePlan->tensors[tensor].numel()));
  theBackend->copyToHost(host.data(), data(tensor),
                         host.size() * sizeof(float));
  return host;
}

void Trainer::writeTensor(int32_t tensor, const float *host) {
  theBackend->copyFromHost(data(tensor), host,
                           uint64_t(thePlan->tensors[tensor].bytes));
}

float *Trainer::data(int32_t tensor) const {
  return reinterpret_cast<float *>(arena + thePlan->tensors[tensor].offset);
}

int64_t *Trainer::inputIds() {
  return reinterpret_cast<int64_t *>(data(thePlan->inputIds));
}

int64_t *Trainer::targets() {
  return reinterpret_cast<int64_t *>(data(thePlan->targets));
}

void Trainer::initialize(uint64_t newSeed) {
  seed = newSeed;
  for (const ParamInfo &param : thePlan->params) {
    const TensorInfo &tensor = thePlan->tensors[param.tensor];
    float *values = data(param.tensor);
    theBackend->zero(values, tensor.bytes);
    if (param.init == Init::Ones)
      theBackend->fill(values, tensor.numel(), 1.0f);
    if (param.init != Init::Normal && param.init != Init::Uniform)
      continue;
    // Element i of the whole tensor is a function of (seed, name, i): a
    // rank draws only its own block, and every tp degree and backend draws
    // the same model. Padding rows stay zero.
    uint64_t key = parameterKey(seed, param.name);
    bool uniform = param.init == Init::Uniform;
    layoutOf(param).forEachRun(theGroups.tp->rank(), [&](int64_t l, int64_t f,
                                                         int64_t count) {
      theBackend->drawParameter(values + l, count, key, f, uniform, param.std);
    });
  }
  for (const TensorInfo &tensor : thePlan->tensors)
    if (tensor.category == Category::OptimizerState)
      theBackend->zero(arena + tensor.offset, tensor.bytes);
  stepCount = 0;
}

bool Trainer::loadWeights(const std::string &path, std::string &error,
                          LoadReport *report) {
  std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(path, error);
  if (!checkpoint)
    return false;
  std::vector<WeightSource> sources;
  LoadReport local;
  LoadReport &out = report ? *report : local;
  auto wholeShape = [&](const ParamInfo &param) {
    return layoutOf(param).fullShape();
  };
  if (!bindWeights(*thePlan, *checkpoint, wholeShape, sources, out.unused,
                   error))
    return false;
  // Each rank reads its own block straight from the mapped file.
  for (const WeightSource &source : sources) {
    if (!source.tensor.file) {
      out.initialised.push_back(source.param->name);
      continue;
    }
    if (!readBlock(source.param->tensor, *source.param, *source.tensor.file,
                   *source.tensor.entry, source.tensor.name, error))
      return false;
  }
  return true;
}

bool Trainer::loadParameterFiles(std::string &error) {
  std::map<std::string, std::unique_ptr<Checkpoint>> files;
  for (const ParamInfo &param : thePlan->params) {
    if (param.initFile.empty())
      continue;
    std::unique_ptr<Checkpoint> &file = files[param.initFile];
    if (!file && !(file = Checkpoint::open(param.initFile, error))) {
      error = "the weights of '" + param.name + "' (added by " + param.addedBy +
              "): " + error;
      return false;
    }
    Checkpoint::Tensor tensor = file->find(param.name);
    if (!tensor.file) {
      error = param.initFile + ": has no tensor '" + param.name +
              "', which the plan reads from it (added by " + param.addedBy +
              ")";
      return false;
    }
    error = shapeMismatch(tensor, layoutOf(param).fullShape(), param.initFile);
    if (!error.empty())
      return false;
    if (!readBlock(param.tensor, param, *tensor.file, *tensor.entry,
                   tensor.name, error))
      return false;
  }
  return true;
}

bool Trainer::readBlock(int32_t tensor, const ParamInfo &param,
                        const SafetensorsFile &file,
                        const SafetensorsEntry &entry, const std::string &name,
                        std::string &error) {
  ShardLayout layout = layoutOf(param);
  float *values = data(tensor);
  theBackend->zero(values, thePlan->tensors[tensor].bytes); // padding rows
  // A chunk at a time through the host, so a device backend's weights
  // never have a second whole copy there.
  constexpr int64_t kChunk = int64_t(1) << 22; // floats: 16 MiB
  std::vector<float> chunk;
  bool ok = true;
  layout.forEachRun(theGroups.tp->rank(), [&](int64_t l, int64_t f, int64_t n) {
    for (int64_t done = 0; ok && done < n; done += kChunk) {
      int64_t count = std::min(kChunk, n - done);
      chunk.resize(size_t(count));
      ok = file.readFloat32(entry, name, f + done, count, chunk.data(), error);
      if (ok)
        theBackend->copyFromHost(values + l + done, chunk.data(),
                                 uint64_t(count) * sizeof(float));
    }
  });
  return ok;
}

std::vector<Trainer::StateTensor> Trainer::optimizerState() const {
  std::vector<StateTensor> state;
  for (size_t k = stepBegin; k < stepEnd; ++k) {
    const KernelCall &call = thePlan->kernels[k];
    if (call.name != "adamw_update")
      continue;
    for (const ParamInfo &param : thePlan->params)
      if (param.tensor == call.outputs[0]) {
        state.push_back({&param, call.outputs[1], param.name + ".exp_avg"});
        state.push_back({&param, call.outputs[2], param.name + ".exp_avg_sq"});
      }
  }
  return state;
}

ShardLayout Trainer::layoutOf(const ParamInfo &param) const {
  return {thePlan->tensors[param.tensor].shape, param.shardAxis,
          param.shardParts, thePlan->tp, param.shardSize};
}

std::vector<float> Trainer::fullParameter(const ParamInfo &param) const {
  return fullTensor(param.tensor, param);
}

std::vector<float> Trainer::fullTensor(int32_t tensor,
                                       const ParamInfo &param) const {
  ShardLayout layout = layoutOf(param);
  if (!layout.sharded())
    return readTensor(tensor);
  // Every rank's block, gathered in the backend's memory, then brought to
  // the host.
  int64_t n = layout.localNumel();
  std::string error;
  void *gathered =
      theBackend->allocate(uint64_t(n * layout.ranks) * sizeof(float), error);
  if (!gathered) {
    std::fprintf(stderr, "slapo-run: error: gathering '%s': %s\n",
                 param.name.c_str(), error.c_str());
    std::exit(1);
  }
  theGroups.tp->allGather(data(tensor), gathered, n, DType::F32,
                          theBackend->stream());
  std::vector<float> blocks(size_t(n * layout.ranks)),
      whole(size_t(layout.fullNumel()));
  theBackend->copyToHost(blocks.data(), gathered,
                         blocks.size() * sizeof(float));
  theBackend->release(gathered);
  for (int64_t r = 0; r < layout.ranks; ++r)
    layout.insert(blocks.data() + r * n, whole.data(), r);
  return whole;
}

bool Trainer::saveWeights(const std::string &path, std::string &error,
                          const SaveOptions &options) const {
  std::vector<std::vector<float>> wholes;
  std::vector<NamedTensor> tensors;
  wholes.reserve(thePlan->params.size());
  // Gathering a tensor-parallel parameter is collective, so every rank
  // gathers them all first; alone, the writer brings each parameter to the
  // host as it writes it, never a second copy of the whole model.
  bool gather = theGroups.tp->size() > 1;
  for (const ParamInfo &param : thePlan->params) {
    NamedTensor tensor{param.name, layoutOf(param).fullShape(), nullptr, {}};
    if (gather) {
      wholes.push_back(fullParameter(param));
      tensor.data = wholes.back().data();
    } else {
      tensor.read = [this, &param] { return fullParameter(param); };
    }
    tensors.push_back(std::move(tensor));
  }
  if (!writesFiles())
    return true;
  return saveTensors(path, tensors, options, thePlan->hfConfig, error);
}

bool Trainer::checkGlobalBatch(int64_t rows, std::string &error) const {
  int64_t dp = theGroups.dp->size(), micro = thePlan->batch;
  if (rows <= 0 || rows % dp != 0) {
    error = "--batch " + std::to_string(rows) + " does not split over " +
            std::to_string(dp) + " data-parallel ranks: give a multiple of " +
            std::to_string(dp);
    return false;
  }
  int64_t perRank = rows / dp;
  if (perRank % micro != 0) {
    error = "--batch " + std::to_string(rows) + " gives each of the " +
            std::to_string(dp) + " data-parallel ranks " +
            std::to_string(perRank) + " rows a step, not a whole number of " +
            "the plan's " + std::to_string(micro) +
            "-row micro-batches (compile with a --batch that divides " +
            std::to_string(perRank) + ")";
    return false;
  }
  if (perRank != micro && updateBegin == stepEnd) {
    error = "the plan's optimizer updates do not close its step, so its "
            "gradients cannot be accumulated or reduced: use --batch " +
            std::to_string(micro) + " on one process";
    return false;
  }
  return true;
}

void Trainer::runKernels(size_t begin, size_t end, int64_t microBatch,
                         const std::function<void(size_t)> *after) {
  uint64_t workspaceBytes = thePlan->memory.workspace;
  float *workspace =
      reinterpret_cast<float *>(arena + thePlan->arenaBytes - workspaceBytes);
  KernelContext context;
  context.workspace = workspace;
  context.workspaceBytes = workspaceBytes;
  context.learningRate = learningRate;
  context.step = stepCount;
  context.seed = seed;
  context.training = training;
  context.tp = theGroups.tp;
  context.microBatch = microBatch;
  context.stream = theBackend->stream();
  StepScalars scalars;
  scalars.learningRate = learningRate;
  scalars.step = stepCount;
  scalars.seed = seed;
  scalars.microBatch = microBatch;
  scalars.training = training ? 1 : 0;
  scalars.gradientWeight = gradientWeight;
  context.deviceScalars = theBackend->setScalars(scalars);
  MemorySpace space = theBackend->space();
  auto issue = [&] {
    for (size_t k = begin; k < end; ++k) {
      const KernelCall &call = thePlan->kernels[k];
      context.call = &call;
      context.workspaceBytes = call.workspace; // its share, checked at load
      context.ins.clear();
      context.outs.clear();
      for (int32_t index : call.inputs)
        context.ins.push_back({data(index), &thePlan->tensors[index], space});
      for (int32_t index : call.outputs)
        context.outs.push_back({data(index), &thePlan->tensors[index], space});
      if (!profiling) {
        bound[k](context);
        if (after)
          (*after)(k);
        continue;
      }
      auto start = std::chrono::steady_clock::now();
      bound[k](context);
      theBackend->synchronize();
      seconds[call.name] += secondsSince(start);
      if (after)
        (*after)(k);
    }
    // What `after` put on the side stream joins the stream again inside
    // the run (a capture must end joined, and may wait only on what it
    // forked).
    if (sideForked)
      theBackend->orderAfter(theBackend->stream(), theBackend->sideStream());
    sideForked = false;
  };
  // A profiled run times each kernel; otherwise the backend may capture
  // the range once and replay it (its scalars are read through
  // setScalars).
  if (profiling)
    issue();
  else
    theBackend->run((uint64_t(begin) << 32 | uint64_t(end)) ^
                        (after ? 1ull << 63 : 0ull),
                    issue);
}

void Trainer::sumOverGroup(Communicator &group, float *values, int64_t count) {
  if (theBackend->space() == MemorySpace::Host) {
    group.allReduce(values, count, ReduceOp::Sum);
    return;
  }
  // A device group (NCCL) reduces device memory: through the scratch.
  uint64_t bytes = uint64_t(count) * sizeof(float);
  theBackend->copyFromHost(scalarScratch, values, bytes);
  group.allReduce(scalarScratch, count, DType::F32, ReduceOp::Sum,
                  theBackend->stream());
  theBackend->copyToHost(values, scalarScratch, bytes);
}

float Trainer::loss() const {
  float value = 0.0f;
  theBackend->copyToHost(&value, data(thePlan->loss), sizeof value);
  return value;
}

std::vector<float> Trainer::predictorStats() const {
  if (thePlan->predictorStats < 0)
    return {};
  std::vector<float> values(
      size_t(thePlan->tensors[thePlan->predictorStats].numel()));
  theBackend->copyToHost(values.data(), data(thePlan->predictorStats),
                         values.size() * sizeof(float));
  return values;
}

float Trainer::step(double lr) {
  ++stepCount;
  learningRate = lr;
  runKernels(stepBegin, updateBegin, 0);
  measureAndClipGradients();
  float value = loss();
  applyUpdate(value);
  return value;
}

void Trainer::applyUpdate(float loss) {
  updateSkipped = skipNonFinite &&
                  (!std::isfinite(loss) ||
                   (hasGradientNorm() && !std::isfinite(lastGradientNorm)));
  if (!updateSkipped)
    runKernels(updateBegin, stepEnd, 0);
}

bool Trainer::setMaxGradNorm(double maxNorm, std::string &error) {
  if (!(maxNorm >= 0.0) || !std::isfinite(maxNorm)) {
    error = "--max-grad-norm expects a finite norm >= 0";
    return false;
  }
  if (maxNorm > 0.0 && !hasGradientNorm()) {
    error = "the plan's optimizer updates do not close its step, so its "
            "gradients cannot be clipped";
    return false;
  }
  maxGradNorm = maxNorm;
  return true;
}

void Trainer::measureAndClipGradients() {
  if (gradients.empty())
    return;
  double replicated = 0.0, sharded = 0.0;
  for (size_t i = 0; i < gradients.size(); ++i) {
    const TensorInfo &tensor = thePlan->tensors[gradients[i]];
    double squares = theBackend->sumOfSquares(data(gradients[i]),
                                              tensor.numel(), DType::F32);
    (gradientSharded[i] ? sharded : replicated) += squares;
  }
  // A sharded gradient's blocks add up over the tensor-parallel group;
  // after the data-parallel reduction every dp rank holds the same sums.
  if (theGroups.tp->size() > 1) {
    float blocks = float(sharded);
    sumOverGroup(*theGroups.tp, &blocks, 1);
    sharded = blocks;
  }
  float norm = float(std::sqrt(replicated + sharded));
  lastGradientNorm = norm;
  if (maxGradNorm <= 0.0)
    return;
  // torch.nn.utils.clip_grad_norm_: the fp32 coefficient max_norm /
  // (norm + 1e-6), which torch computes as a reciprocal times max_norm,
  // clamped to 1.
  float coefficient = (1.0f / (norm + 1e-6f)) * float(maxGradNorm);
  if (!(coefficient < 1.0f))
    return;
  for (int32_t g : gradients)
    theBackend->scale(data(g), thePlan->tensors[g].numel(), DType::F32,
                      coefficient);
}

int64_t Trainer::countTargets(const int64_t *targets, int64_t n) const {
  return std::count_if(targets, targets + n,
                       [&](int64_t x) { return x != ignoreIndex; });
}

void Trainer::loadMicroBatch(const int64_t *ids, const int64_t *targets,
                             int64_t index) {
  size_t offset = size_t(index * thePlan->batch * thePlan->seq);
  size_t bytes = size_t(thePlan->batch * thePlan->seq) * sizeof(int64_t);
  theBackend->copyFromHost(data(thePlan->inputIds), ids + offset, bytes);
  theBackend->copyFromHost(data(thePlan->targets), targets + offset, bytes);
}

Trainer::Evaluation Trainer::evaluate(const int64_t *ids,
                                      const int64_t *targets, int64_t rows) {
  const EntryFunction &eval = *thePlan->entry("eval_step");
  int64_t seq = thePlan->seq, micro = thePlan->batch;
  int64_t microBatches = rows / theGroups.dp->size() / micro;
  bool wasTraining = training;
  training = false;
  double lossSum = 0.0;
  std::vector<double> stats;
  for (int64_t m = 0; m < microBatches; ++m) {
    int64_t index = theGroups.dp->rank() * microBatches + m;
    loadMicroBatch(ids, targets, index);
    runKernels(eval.first, eval.first + eval.count, index);
    int64_t counted = countTargets(targets + index * micro * seq, micro * seq);
    lossSum += double(loss()) * double(counted);
    std::vector<float> batchStats = predictorStats();
    stats.resize(batchStats.size(), 0.0);
    for (size_t i = 0; i < batchStats.size(); ++i)
      stats[i] += batchStats[i];
  }
  training = wasTraining;
  if (theGroups.dp->size() > 1) {
    // Two floats keep the sum's 48 bits: its float part and the rest.
    float parts[2] = {float(lossSum), float(lossSum - double(float(lossSum)))};
    sumOverGroup(*theGroups.dp, parts, 2);
    lossSum = double(parts[0]) + double(parts[1]);
    if (!stats.empty()) {
      std::vector<float> shares(stats.begin(), stats.end());
      sumOverGroup(*theGroups.dp, shares.data(), int64_t(shares.size()));
      stats.assign(shares.begin(), shares.end());
    }
  }
  Evaluation result{lossSum, countTargets(targets, rows * seq)};
  result.predictorStats = std::move(stats);
  result.microBatches = microBatches * theGroups.dp->size();
  return result;
}

float Trainer::step(const int64_t *ids, const int64_t *targets, int64_t rows,
                    double lr) {
  int64_t seq = thePlan->seq, micro = thePlan->batch;
  int64_t dp = theGroups.dp->size(), perRank = rows / dp;
  int64_t microBatches = perRank / micro;
  bool reduce = dp > 1 || microBatches > 1;
  int64_t total = countTargets(targets, rows * seq);
  ++stepCount;
  learningRate = lr;
  if (reduce && !flatGradients) {
    // The micro-batches' weighted sum of every gradient, back to back, in
    // the backend's memory: the plan's gradient accumulator (the loader
    // checked that it holds every update's gradient).
    for (int32_t g : gradients)
      flatCount += thePlan->tensors[g].numel();
    std::string error;
    flatGradients = static_cast<float *>(
        theBackend->allocate(thePlan->memory.accumulator, error));
    if (!flatGradients) {
      std::fprintf(stderr, "slapo-run: error: the gradient buffer: %s\n",
                   error.c_str());
      std::exit(1);
    }
  }
  if (reduce)
    theBackend->zero(flatGradients, uint64_t(flatCount) * sizeof(float));
  if (reduce)
    planBuckets();
  double lossSum = 0.0;
  for (int64_t m = 0; m < microBatches; ++m) {
    int64_t index = theGroups.dp->rank() * microBatches + m;
    size_t offset = size_t(index * micro * seq), n = size_t(micro * seq);
    loadMicroBatch(ids, targets, index);
    // Each micro-batch's mean counts in proportion to its counted tokens.
    float weight =
        reduce && total
            ? float(double(countTargets(targets + offset, int64_t(n))) /
                    double(total))
            : 0.0f;
    if (!reduce) {
      runKernels(stepBegin, updateBegin, index);
      lossSum = loss();
      continue;
    }
    gradientWeight = weight;
    if (m + 1 < microBatches) {
      runKernels(stepBegin, updateBegin, index);
      accumulateGradients(stepEnd);
    } else {
      // The last micro-batch adds each gradient into the buffer as soon
      // as it is complete, and each bucket goes out on the side stream as
      // soon as its gradients are in: the reduction overlaps the rest of
      // the backward pass.
      std::function<void(size_t)> after = [&](size_t k) {
        accumulateGradients(k);
        reduceBuckets(k);
      };
      runKernels(stepBegin, updateBegin, index, &after);
    }
    lossSum += double(weight) * loss();
  }
  float result = float(lossSum);
  if (reduce) {
    finishReduction();
    sumOverGroup(*theGroups.dp, &result, 1);
  }
  measureAndClipGradients();
  applyUpdate(result);
  return result;
}

void Trainer::planBuckets() {
  if (!buckets.empty() && plannedBucketBytes == bucketBytes)
    return;
  plannedBucketBytes = bucketBytes;
  buckets.clear();
  // Buckets of bucketBytes over the flat buffer; each is ready after the
  // last writer of any gradient it holds part of.
  int64_t size = std::max<int64_t>(1, int64_t(bucketBytes / sizeof(float)));
  for (int64_t first = 0; first < flatCount; first += size)
    buckets.push_back({first, std::min(size, flatCount - first), stepBegin});
  int64_t start = 0;
  for (size_t i = 0; i < gradients.size(); ++i) {
    int64_t count = thePlan->tensors[gradients[i]].numel();
    for (Bucket &bucket : buckets)
      if (bucket.first < start + count && start < bucket.first + bucket.count)
        bucket.ready = std::max(bucket.ready, gradientReady[i]);
    start += count;
  }
}

void Trainer::accumulateGradients(size_t kernel) {
  // kernel == stepEnd: every gradient (after the whole micro-batch). The
  // weight is the run's scalar (gradientWeight), which a replayed graph
  // reads where setScalars put it.
  float *flat = flatGradients;
  for (size_t i = 0; i < gradients.size(); ++i) {
    int64_t count = thePlan->tensors[gradients[i]].numel();
    if (kernel == stepEnd || gradientReady[i] == kernel)
      theBackend->accumulateWeighted(flat, data(gradients[i]), count,
                                     DType::F32);
    flat += count;
  }
}

void Trainer::reduceBuckets(size_t kernel) {
  if (theGroups.dp->size() == 1)
    return;
  Stream main = theBackend->stream(), side = theBackend->sideStream();
  for (const Bucket &bucket : buckets) {
    if (bucket.ready != kernel)
      continue;
    auto start = std::chrono::steady_clock::now();
    theBackend->orderAfter(side, main); // its gradients are added
    sideForked = true;
    theGroups.dp->allReduce(flatGradients + bucket.first, bucket.count,
                            DType::F32, ReduceOp::Sum, side);
    if (profiling)
      seconds["(gradient all_reduce)"] += secondsSince(start);
  }
}

void Trainer::finishReduction() {
  // The buckets joined the stream at the end of the last micro-batch's
  // run: the copies below wait for them.
  const float *flat = flatGradients;
  for (int32_t g : gradients) {
    int64_t count = thePlan->tensors[g].numel();
    theBackend->copy(data(g), flat, uint64_t(count) * sizeof(float));
    flat += count;
  }
}

} // namespace slapo::rt
