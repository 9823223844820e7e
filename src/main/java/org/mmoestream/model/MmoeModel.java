package org.mmoestream.model;

import java.util.List;
import java.util.SplittableRandom;
import org.mmoestream.model.optim.Optimizer;
import org.mmoestream.model.optim.OptimizerConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A trainable model: network, embedding tables, dense statistics, optimizer state and counters.
 * {@link #trainStep(Batch)} is the one training step that offline training and the streaming
 * operator both call; it scores the batch before it learns from it (progressive validation).
 *
 * <p>Step order: update the dense statistics; gather the input; forward; loss and dLoss/dLogits;
 * backward; row gradients of the embeddings; global gradient norm (with L2); skip the batch if the
 * loss or the norm is not finite; clip; optimizer step on the dense parameters and touched rows.
 * With {@link #scalePartialBatches}, a batch smaller than the full one takes a step scaled by its
 * share of it.
 */
public final class MmoeModel {
    private final ModelSpec spec;
    private final DataType type;
    private final MmoeNetwork network;
    private final Embeddings embeddings;
    private final DenseNormalizer normalizer;
    private Objective objective;
    /** The factor on the loss of every row whose ESMM conversion label is 1; 1 unless an experiment sets it. */
    private double conversionPositiveScale = 1;

    private final Optimizer optimizer;
    private final INDArray[] denseState;
    private final NdAccess[] denseStateAccess;
    private final int width;
    /** Width of a gathered row: the network's input, then the bias features' embeddings. */
    private final int gatherWidth;
    /** The tasks whose logits take the bias tower's logit (empty without bias features). */
    private final int[] biasTasks;
    /** Whether inference adds the bias logit (at the serving values of the bias features). */
    private final boolean biasAtServing;

    private double[] biasGrad = new double[0];
    private double[] mainInput = new double[0];
    private float[] mainInputF = new float[0];
    private final int denseOffset;
    private final int heads;
    /** The model input and its gradient: float32 for a float32 model (no conversion on the way), else float64. */
    private double[] input = new double[0];

    private double[] inputGrad = new double[0];
    private float[] inputF = new float[0];
    private float[] inputGradF = new float[0];
    private double[] dLogits = new double[0];
    private final double[] taskLoss;
    private final double[] normG = new double[4096];
    private final double[] normP = new double[4096];
    private final float[] normGf = new float[4096];
    private final float[] normPf = new float[4096];
    private long step;
    private long examplesSeen;
    private long skippedBatches;
    /** A batch of fewer rows takes a step scaled by rows / fullBatch (0: every batch its mean's step). */
    private int fullBatch;

    private final long seed;
    /** The per-task terms of the loss, reused. */
    private final Objective.Terms terms;

    /** The threads a step's gradient is computed on, or null: the caller's thread alone. */
    private ParallelStep parallel;
    /** Whether the last gradient was computed in parts on several threads (their buffers hold its gates). */
    private boolean lastParallel;
    /** The average of the dense parameters that is served ({@link #useServingAverage}), or null: as trained. */
    private ServingAverage average;
    /** The model whose objective this one trains: itself, or the main model of a part. */
    private final MmoeModel owner;

    private MmoeModel(ModelSpec spec, long seed, DataType type, int[] tableRows) {
        this(spec, seed, type, tableRows, null);
    }

    /**
     * A model; with {@code main} non-null a part of it for one thread of {@link ParallelStep}: the
     * main model's parameters, tables and dense statistics (the same memory), its own gradient
     * buffers and scratch, no optimizer state.
     */
    private MmoeModel(ModelSpec spec, long seed, DataType type, int[] tableRows, MmoeModel main) {
        this.spec = spec;
        this.seed = seed;
        this.type = type;
        this.owner = main != null ? main : this;
        this.width = spec.features().inputDim();
        this.gatherWidth = spec.features().gatherWidth();
        BiasTower tower = spec.architecture().biasTower();
        this.biasTasks = tower == null || gatherWidth == width
                ? new int[0]
                : tower.tasks().stream().mapToInt(spec::taskIndex).toArray();
        this.biasAtServing = tower != null && !tower.serving().isEmpty();
        this.denseOffset = spec.features().denseOffset();
        this.network =
                new MmoeNetwork(spec.architecture(), width, spec.features().biasDim(), spec.tasks(), type);
        OptimizerConfig oc = spec.optimizer();
        if (main != null) {
            network.shareParameters(main.network);
        }
        this.embeddings = main != null
                ? new Embeddings(main.embeddings)
                : tableRows == null
                        ? new Embeddings(spec.features(), type, oc)
                        : new Embeddings(spec.features(), type, oc, tableRows);
        this.normalizer = main != null
                ? main.normalizer
                : new DenseNormalizer(spec.features().dense());
        this.objective = main != null ? main.objective : spec.objective();
        this.optimizer = new Optimizer(oc);
        int stateSlots = main != null ? 0 : oc.stateSlots();
        this.denseState = new INDArray[stateSlots];
        this.denseStateAccess = new NdAccess[stateSlots];
        for (int s = 0; s < denseState.length; s++) {
            denseState[s] = Nd4j.valueArrayOf(new long[] {network.layout().size()}, oc.initialState(s), type);
            denseStateAccess[s] = NdAccess.of(denseState[s]);
        }
        this.taskLoss = new double[spec.tasks().size()];
        this.terms = new Objective.Terms(spec.tasks().size());
        this.heads = spec.heads().size();
    }

    /** A freshly initialized model; the same seed gives the same parameters. */
    public static MmoeModel create(ModelSpec spec, long seed, DataType type) {
        MmoeModel m = new MmoeModel(spec, seed, type, null);
        m.network.initialize(new SplittableRandom(seed));
        m.embeddings.initialize(seed);
        return m;
    }

    /**
     * A model whose embedding tables are compact working sets of {@code tableRows[f]} slots, left
     * zero: the caller loads rows into slots (see {@link Embeddings#readRow}) and remaps batch ids
     * ({@link Batch#withIds}). The dense part is initialized as by {@link #create}.
     */
    public static MmoeModel createCompact(ModelSpec spec, long seed, DataType type, int[] tableRows) {
        MmoeModel m = new MmoeModel(spec, seed, type, tableRows);
        m.network.initialize(new SplittableRandom(seed));
        return m;
    }

    /**
     * Scales the step of a batch of fewer than {@code batchSize} rows by rows / {@code batchSize}
     * (clipping applies to the scaled gradient): its examples then move the model as much as the
     * same examples in a full batch, however a stream cuts its batches ({@code train.max-wait},
     * checkpoint barriers, the end of the input). With the plain mean, a batch of 4 examples moves
     * it as far as one of 256, on a far noisier gradient: the model after it is that much worse.
     * 0 (the default): every batch's step is that of its mean loss.
     */
    public void scalePartialBatches(int batchSize) {
        if (batchSize < 0) {
            throw new IllegalArgumentException("batch size " + batchSize + " is negative");
        }
        fullBatch = batchSize;
    }

    /** The factor on the step of a batch of {@code rows} rows ({@link #scalePartialBatches}). */
    private double batchWeight(int rows) {
        return rows < fullBatch ? (double) rows / fullBatch : 1.0;
    }

    /**
     * Computes each step's gradient on {@code threads} threads from now on (1: on the caller's,
     * as before), each on a slice of the batch's rows with the model's parameters, the loss on the
     * whole batch: the same step as on one thread, to float rounding, except for dropout, whose
     * masks are drawn per slice. A model with batch normalization takes one thread only.
     */
    public void useThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, not " + threads);
        }
        if (threads > 1 && network.batchNormalized()) {
            throw new IllegalArgumentException("a model with batch normalization trains on one thread");
        }
        close();
        parallel = threads > 1 ? new ParallelStep(this, threads) : null;
        lastParallel = false;
    }

    /**
     * Serves the moving average of the dense parameters over about the spec's {@code
     * optimizer.serving_average} steps (or {@code serving_average_hours} of event time, {@link
     * #advanceServingAverage}) from now on, starting at their current values (a trainer calls
     * it once the parameters are set: initialized, restored or warm-started); nothing when that is 0.
     * Then {@link #servedParams}, {@link #predictServed} and {@link #copyParameters} give the average,
     * and each optimizer step moves it; training goes on from the parameters as trained.
     */
    public void useServingAverage() {
        OptimizerConfig o = spec.optimizer();
        if (o.servingAverageHours() > 0) {
            average = ServingAverage.overEventTime(network.paramAccess(), o.servingAverageHours());
        } else {
            average = o.servingAverage() > 0 ? new ServingAverage(network.paramAccess(), o.servingAverage()) : null;
        }
    }

    /**
     * Before a step: the newest impression the trainer has trained, this step's included (event
     * time), which moves a serving average sized in event time ({@code
     * optimizer.serving_average_hours}); nothing otherwise.
     */
    public void advanceServingAverage(long eventTime) {
        if (average != null) {
            average.advance(eventTime);
        }
    }

    /** The serving average, or null when the parameters are served as trained. */
    public ServingAverage servingAverage() {
        return average;
    }

    /** The dense parameters a published version carries: the serving average's, or the parameters. */
    public NdAccess servedParams() {
        return average != null ? average.values() : network.paramAccess();
    }

    /** As {@link #predict} with the served dense parameters ({@link #servedParams}). */
    public double[][] predictServed(Batch b) {
        if (average == null) {
            return predict(b);
        }
        double[][][] p = new double[1][][];
        average.serve(() -> p[0] = predict(b));
        return p[0];
    }

    /** The threads a step's gradient is computed on. */
    public int threads() {
        return parallel == null ? 1 : parallel.threads();
    }

    /** Stops the threads of {@link #useThreads} (the model goes on on the caller's thread). */
    public void close() {
        if (parallel != null) {
            parallel.close();
            parallel = null;
        }
        lastParallel = false;
    }

    /** Optimizer state of the dense parameters, element access per slot. */
    NdAccess[] denseStateAccess() {
        return denseStateAccess;
    }

    /** The optimizer (its scratch is its own: one per thread). */
    Optimizer optimizer() {
        return optimizer;
    }

    /** A part of this model for one thread of a {@link ParallelStep}. */
    MmoeModel part() {
        return new MmoeModel(spec, seed, type, null, this);
    }

    /** The gate statistics of the last gradient's forward pass ({@code rows} rows) into {@code g}. */
    public void addGateStatistics(GateStatistics g, int rows) {
        if (lastParallel) {
            parallel.addGateStatistics(g);
        } else {
            g.add(network, network.buffers(rows));
        }
    }

    /** The task losses of the last gradient (the model's own, overwritten by the next). */
    double[] taskLosses() {
        return taskLoss;
    }

    /** The seed the parameters were initialized from. */
    public long seed() {
        return seed;
    }

    /** Restores the optimizer step counter and example count (from a snapshot or state). */
    public void restoreCounters(long step, long examplesSeen, long skippedBatches) {
        this.step = step;
        this.examplesSeen = examplesSeen;
        this.skippedBatches = skippedBatches;
    }

    /** Result of one training step. */
    public record StepResult(double[][] predictions, double loss, double[] taskLoss, boolean skipped) {}

    /**
     * Scores the batch, then trains on it. Returns the predictions made before the update, per head
     * ({@link ModelSpec#heads()}) and row.
     */
    public StepResult trainStep(Batch b) {
        Gradients g = gradients(b);
        boolean applied;
        if (Double.isFinite(g.loss())) {
            applied = apply(g.rows(), b.rows, lastParallel, batchWeight(b.rows));
        } else {
            skippedBatches++;
            applied = false;
        }
        return new StepResult(g.predictions(), g.loss(), g.taskLoss(), !applied);
    }

    /**
     * The gradient of a labeled batch's loss, without a step: the dense part in the network's
     * gradient buffer ({@link MmoeNetwork#gradAccess()}), the rows' part returned (reused by the next
     * call), with the predictions made and the loss. The dense-feature statistics take the batch in
     * first, as for a step.
     */
    public record Gradients(double[][] predictions, double loss, double[] taskLoss, Embeddings.RowGradients[] rows) {}

    public Gradients gradients(Batch b) {
        if (!b.labeled()) {
            throw new IllegalArgumentException("a gradient needs a labeled batch");
        }
        normalizer.update(b);
        lastParallel = parallel != null && parallel.splits(b.rows);
        if (lastParallel) {
            return parallel.gradients(b);
        }
        MmoeNetwork.Buffers buf = forward(b);
        double[][] predictions = probabilities(buf);
        double loss = computeGradients(b, buf);
        return new Gradients(predictions, loss, taskLoss.clone(), embeddingGradients(b));
    }

    /**
     * One optimizer step with the gradient in the network's gradient buffer and {@code rowGrads}
     * (global-norm clipped, L2 added), counted as {@code examples} examples. A gradient that is
     * not finite is skipped and counted; returns whether the step was taken.
     */
    public boolean applyGradients(Embeddings.RowGradients[] rowGrads, int examples) {
        return apply(rowGrads, examples, false, 1.0);
    }

    /**
     * As {@link #applyGradients}; {@code summed}: the gradient is the one the step's threads have
     * just summed, with their parts of its norm; {@code weight}: the factor on the gradient (a
     * partial batch's share of a full one), before clipping.
     */
    private boolean apply(Embeddings.RowGradients[] rowGrads, int examples, boolean summed, double weight) {
        double l2 = spec.optimizer().l2();
        double norm = weight
                * Math.sqrt(
                        summed ? parallel.squaredNorm() : denseSquaredNorm(l2) + embeddings.squaredNorm(rowGrads, l2));
        if (!Double.isFinite(norm)) {
            skippedBatches++;
            return false;
        }
        double clip = spec.optimizer().clipNorm();
        double scale = weight * (clip > 0 && norm > clip ? clip / norm : 1.0);
        optimizer.begin(++step);
        if (parallel != null) {
            parallel.update(step, scale, rowGrads);
        } else {
            for (ParamLayout.Entry e : network.layout().entries()) {
                optimizer.updateDense(
                        network.paramAccess(),
                        network.gradAccess(),
                        denseStateAccess,
                        e.offset(),
                        e.offset() + e.size(),
                        scale,
                        e.weight() ? l2 : 0.0);
            }
            embeddings.update(optimizer, rowGrads, scale);
        }
        examplesSeen += examples;
        if (average != null) {
            average.update();
        }
        return true;
    }

    /**
     * Empty row gradients for the tables, reused from the last step, that take up to {@code
     * uses[t]} rows of table {@code t} ({@link Embeddings.RowGradients#add}): for a step on a
     * gradient computed elsewhere.
     */
    public Embeddings.RowGradients[] emptyRowGradients(int[] uses) {
        return embeddings.emptyGradients(uses);
    }

    /**
     * Turns fake-negative weighting of the loss on or off ({@code join.feedback: fnw}; see {@link
     * Objective}).
     */
    public void useFakeNegativeWeights(boolean on) {
        objective = objective.withFakeNegativeWeights(on);
    }

    /** Weights each row's loss as {@code w} says ({@code join.feedback}: fnw, defer; see {@link Objective}). */
    public void useFeedbackWeights(Objective.Weights w) {
        objective = objective.withWeights(w);
    }

    public Objective objective() {
        return objective;
    }

    /**
     * Weighs the loss of every row whose ESMM conversion label is 1 by {@code scale}, on top of the
     * feedback weights, from the next training step on: an experiment of {@code bench feedback}
     * that trains the conversions that arrive normalized by their expected rate
     * (docs/fresh-labels-calibration.md).
     */
    public void scaleConversionPositives(double scale) {
        if (!(scale > 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("the conversions' scale must be a number above 0: " + scale);
        }
        if (objective.esmmConversionTask() < 0) {
            throw new IllegalArgumentException("scaling the conversions needs ESMM's conversion task");
        }
        conversionPositiveScale = scale;
    }

    /** {@code rowWeights} (null: 1) with the rows of {@code b} that are conversions scaled as set. */
    private double[] scaledConversions(double[] rowWeights, Batch b) {
        if (conversionPositiveScale == 1) {
            return rowWeights;
        }
        int tasks = network.tasks();
        int c = objective.esmmConversionTask();
        double[] w = rowWeights;
        if (w == null) {
            w = new double[b.rows * tasks];
            java.util.Arrays.fill(w, 1);
        }
        for (int r = 0; r < b.rows; r++) {
            if (b.labels[c][r] == 1f) {
                w[r * tasks + c] *= conversionPositiveScale;
            }
        }
        return w;
    }

    /** Probabilities per head and row, without training. */
    public double[][] predict(Batch b) {
        return probabilities(forward(b, false));
    }

    /**
     * Runs the training forward pass (with the architecture's gate dropout, if any); the returned
     * buffers hold logits and gate probabilities.
     */
    public MmoeNetwork.Buffers forward(Batch b) {
        return forward(b, true);
    }

    /**
     * The seed of a training pass's dropout masks: a function of the model's seed, its step and the
     * batch's size, first dense values and labels (not its ids, which a working set remaps), so that
     * replay, restores and a gradient check's repeated passes draw the same masks, and replicas
     * computing shares of one step draw different ones.
     */
    private long dropoutSeed(Batch b) {
        if (spec.architecture().gateDropout() == 0 && spec.architecture().dropout() == 0) {
            return MmoeNetwork.NO_DROPOUT;
        }
        long h = seed * 0x9E3779B97F4A7C15L + step * 1_000_003L + b.rows;
        for (int i = 0; i < Math.min(8, b.dense.length); i++) {
            h = h * 31 + Double.doubleToLongBits(b.dense[i]);
        }
        for (float[] task : b.labels == null ? new float[0][] : b.labels) {
            for (int i = 0; i < Math.min(8, task.length); i++) {
                h = h * 31 + Float.floatToIntBits(task[i]);
            }
        }
        return h == MmoeNetwork.NO_DROPOUT ? h + 1 : h;
    }

    /**
     * A part's training forward pass, at the main model's step {@code step} (which seeds its
     * dropout); the model's dense statistics have taken the whole batch in.
     */
    MmoeNetwork.Buffers forwardPart(Batch b, long step) {
        this.step = step;
        return forward(b, true);
    }

    /** As {@link #forward(Batch)}; {@code keep} false: an inference pass, no backward pass will follow. */
    private MmoeNetwork.Buffers forward(Batch b, boolean keep) {
        int g = gatherWidth;
        int n = b.rows * g;
        MmoeNetwork.Buffers buf = network.buffers(b.rows);
        if (type == DataType.FLOAT) {
            if (inputF.length < n) {
                inputF = new float[n];
                inputGradF = new float[n];
            }
            embeddings.gather(b, inputF, g);
            normalizer.apply(b, inputF, g, denseOffset);
            if (g != width) {
                mainInputF = mainInputF.length < b.rows * width ? new float[b.rows * width] : mainInputF;
                copyRows(inputF, g, mainInputF, width, width, b.rows);
            }
            buf.setInput(g == width ? inputF : mainInputF);
        } else {
            if (input.length < n) {
                input = new double[n];
                inputGrad = new double[n];
            }
            embeddings.gather(b, input, g);
            normalizer.apply(b, input, g, denseOffset);
            if (g != width) {
                mainInput = mainInput.length < b.rows * width ? new double[b.rows * width] : mainInput;
                copyRows(input, g, mainInput, width, width, b.rows);
            }
            buf.setInput(g == width ? input : mainInput);
        }
        network.forward(buf, keep, keep ? dropoutSeed(b) : MmoeNetwork.NO_DROPOUT);
        if (biasTasks.length > 0 && (keep || biasAtServing)) {
            addBiasLogits(buf);
        }
        return buf;
    }

    /**
     * Copies {@code rows} rows of {@code width} elements from {@code src} (rows {@code srcStride}
     * apart) to {@code dst} (rows {@code dstStride} apart): arrays of one primitive type.
     */
    private static void copyRows(Object src, int srcStride, Object dst, int dstStride, int width, int rows) {
        for (int r = 0; r < rows; r++) {
            System.arraycopy(src, r * srcStride, dst, r * dstStride, width);
        }
    }

    /** Gathered input element {@code i} (the last forward pass's). */
    private double gathered(int i) {
        return type == DataType.FLOAT ? inputF[i] : input[i];
    }

    /**
     * The bias tower: z_b = c + v . (bias features' embeddings) per row, added to the logits of the
     * bias tasks (in training with the example's bias features, at serving with the serving values,
     * which the encoder put in their place).
     */
    private void addBiasLogits(MmoeNetwork.Buffers buf) {
        NdAccess p = network.paramAccess();
        int w = network.biasWeight().offset();
        int bd = gatherWidth - width;
        double c = p.get(network.biasBias().offset());
        int tasks = network.tasks();
        double[] logits = buf.logits();
        for (int r = 0; r < buf.rows(); r++) {
            double z = c;
            for (int k = 0; k < bd; k++) {
                z += p.get(w + k) * gathered(r * gatherWidth + width + k);
            }
            for (int t : biasTasks) {
                logits[r * tasks + t] += z;
            }
        }
    }

    /**
     * The bias tower's backward: with dz_b = the sum of dLoss/dLogit over the bias tasks per row,
     * writes dLoss/dv and dLoss/dc into the gradient buffer and dz_b v into the bias columns of the
     * input gradient (for the bias features' embedding rows).
     */
    private void biasBackward(int rows, double[] dLogits) {
        NdAccess p = network.paramAccess();
        int w = network.biasWeight().offset();
        int bd = gatherWidth - width;
        int tasks = network.tasks();
        biasGrad = biasGrad.length < bd ? new double[bd] : biasGrad;
        java.util.Arrays.fill(biasGrad, 0, bd, 0);
        double dc = 0;
        for (int r = 0; r < rows; r++) {
            double dz = 0;
            for (int t : biasTasks) {
                dz += dLogits[r * tasks + t];
            }
            dc += dz;
            int o = r * gatherWidth + width;
            for (int k = 0; k < bd; k++) {
                biasGrad[k] += dz * gathered(o + k);
                double dx = dz * p.get(w + k);
                if (type == DataType.FLOAT) {
                    inputGradF[o + k] = (float) dx;
                } else {
                    inputGrad[o + k] = dx;
                }
            }
        }
        NdAccess g = network.gradAccess();
        for (int k = 0; k < bd; k++) {
            g.set(w + k, biasGrad[k]);
        }
        g.set(network.biasBias().offset(), dc);
    }

    /**
     * Loss of the batch at the current parameters, leaving dLoss/dParams in the network's gradient
     * buffer and dLoss/dInput in the input-gradient scratch; used by gradient checks and training.
     */
    public double computeGradients(Batch b, MmoeNetwork.Buffers buf) {
        double total = lossAndBackward(b, buf, null);
        return lossTerms(total, taskLoss, terms.rows, terms.dLogVariance, true);
    }

    /**
     * The backward pass from dLoss/dLogits of the last forward pass ({@code buf}, on {@code b}):
     * dLoss/dParams of the layers and the bias tower into the gradient buffer, dLoss/dInput into the
     * input-gradient scratch.
     */
    void backward(Batch b, MmoeNetwork.Buffers buf, double[] dLogits) {
        network.backward(buf, dLogits);
        if (gatherWidth == width) {
            if (type == DataType.FLOAT) {
                buf.readInputGradient(inputGradF);
            } else {
                buf.readInputGradient(inputGrad);
            }
            return;
        }
        // The network's input gradient into the gathered layout, then the bias columns.
        int rows = b.rows;
        if (type == DataType.FLOAT) {
            buf.readInputGradient(mainInputF);
            copyRows(mainInputF, width, inputGradF, gatherWidth, width, rows);
        } else {
            buf.readInputGradient(mainInput);
            copyRows(mainInput, width, inputGrad, gatherWidth, width, rows);
        }
        biasBackward(rows, dLogits);
    }

    /**
     * The objective's total loss, with each task's loss weighted by exp(-s_t) plus s_t / 2 under
     * uncertainty weighting (Kendall et al., CVPR 2018; s_t = log sigma_t^2, the tensor {@link
     * MmoeNetwork#LOG_VARIANCE}), for the tasks with rows in the batch, and log-normal tasks reading
     * their log-variance; with {@code gradient}, writes the gradients of those parameters (for
     * uncertainty weighting dLoss/ds_t = 1/2 - w_t exp(-s_t) L_t) into the network's gradient buffer.
     */
    private double weightedLoss(
            double[] logits, Batch b, double[] rowWeights, double[] dLogits, double[] losses, boolean gradient) {
        prepareTerms();
        double total = objective.evaluate(logits, b, rowWeights, terms, dLogits, losses);
        return lossTerms(total, losses, terms.rows, terms.dLogVariance, gradient);
    }

    /** Each task's loss factor and log-variance from the parameters, into {@link #terms}. */
    private void prepareTerms() {
        ParamLayout.Entry lv = network.logVariance();
        NdAccess p = network.paramAccess();
        for (int t = 0; t < network.tasks(); t++) {
            terms.scale[t] = lv == null ? 1 : Math.exp(-p.get(lv.offset() + t));
            ParamLayout.Entry tv = network.taskLogVariance(t);
            terms.logVariance[t] = tv == null ? 0 : p.get(tv.offset());
        }
    }

    /**
     * The loss's own terms on top of the tasks' weighted {@code total}: uncertainty weighting's s_t /
     * 2 for the tasks with {@code rows}; with {@code gradient}, the gradients of the loss's own
     * parameters into the gradient buffer (the log-normal tasks' {@code dLogVariance}).
     */
    private double lossTerms(double total, double[] losses, int[] rows, double[] dLogVariance, boolean gradient) {
        ParamLayout.Entry lv = network.logVariance();
        NdAccess p = network.paramAccess();
        for (int t = 0; t < network.tasks(); t++) {
            ParamLayout.Entry tv = network.taskLogVariance(t);
            if (gradient && tv != null) {
                network.gradAccess().set(tv.offset(), dLogVariance[t]);
            }
            if (lv == null) {
                continue;
            }
            // A task without rows in the batch leaves its s_t alone.
            boolean present = rows[t] > 0;
            if (present) {
                total += 0.5 * p.get(lv.offset() + t);
            }
            if (gradient) {
                double g = present ? 0.5 - objective.taskWeight(t) * terms.scale[t] * losses[t] : 0;
                network.gradAccess().set(lv.offset() + t, g);
            }
        }
        return total;
    }

    /**
     * The tasks' weighted loss of {@code b} from the last forward pass ({@code buf}), dLoss/dLogits,
     * then the backward pass from them; each task's loss and the log-normal tasks' log-variance
     * gradients stay in {@link #taskLosses} and {@link #dLogVariance}, the loss's own terms are
     * left to the caller ({@link #lossTerms}). With {@code counted}, {@code b} is a part's slice of a
     * batch whose rows that count per task are {@code counted}: every task's mean is over those, so
     * the slices' shares add up to the batch's (the main model adds its terms, {@link #finishLoss}).
     */
    double lossAndBackward(Batch b, MmoeNetwork.Buffers buf, int[] counted) {
        int tasks = network.tasks();
        if (dLogits.length < b.rows * tasks) {
            dLogits = new double[b.rows * tasks];
        }
        prepareTerms();
        terms.counted = counted;
        double total;
        try {
            double[] logits = buf.logits();
            // The main model's objective, whose weights may have changed since this part was made.
            Objective o = owner.objective;
            double[] rowWeights =
                    owner.scaledConversions(o.fakeNegativeWeights() ? o.fakeNegativeWeights(logits, b) : null, b);
            total = o.evaluate(logits, b, rowWeights, terms, dLogits, taskLoss);
        } finally {
            terms.counted = null;
        }
        backward(b, buf, dLogits);
        return total;
    }

    /** The log-normal tasks' log-variance gradients of the last {@link #lossAndBackward}. */
    double[] dLogVariance() {
        return terms.dLogVariance;
    }

    /**
     * The loss of a batch computed in parts: the parts' {@code total} and per task {@code losses} and
     * {@code dLogVariance} summed, {@code counted} rows per task. Adds the loss's own terms, writes
     * their gradients into the gradient buffer and keeps the task losses; returns the loss.
     */
    double finishLoss(double total, double[] losses, int[] counted, double[] dLogVariance) {
        prepareTerms();
        System.arraycopy(losses, 0, taskLoss, 0, taskLoss.length);
        return lossTerms(total, taskLoss, counted, dLogVariance, true);
    }

    /** Loss of a labeled batch at the current parameters (no state changes). */
    public double loss(Batch b) {
        MmoeNetwork.Buffers buf = forward(b);
        double[] rowWeights = objective.fakeNegativeWeights() ? objective.fakeNegativeWeights(buf.logits(), b) : null;
        return loss(buf, b, rowWeights);
    }

    /** As {@link #loss(Batch)} with given per-row task weights (null: 1), for gradient checks. */
    double loss(Batch b, double[] weights) {
        return loss(forward(b), b, weights);
    }

    private double loss(MmoeNetwork.Buffers buf, Batch b, double[] rowWeights) {
        int tasks = network.tasks();
        double[] d = new double[b.rows * tasks];
        return weightedLoss(buf.logits(), b, rowWeights, d, new double[tasks], false);
    }

    /** Row gradients of the embeddings for the last {@link #computeGradients} call. */
    public Embeddings.RowGradients[] embeddingGradients(Batch b) {
        return type == DataType.FLOAT
                ? embeddings.gradients(b, inputGradF, gatherWidth)
                : embeddings.gradients(b, inputGrad, gatherWidth);
    }

    private double denseSquaredNorm(double l2) {
        NdAccess g = network.gradAccess();
        NdAccess p = network.paramAccess();
        boolean f32 = g.float32() && p.float32();
        double s = 0;
        for (ParamLayout.Entry e : network.layout().entries()) {
            double decay = e.weight() ? l2 : 0.0;
            for (int off = e.offset(); off < e.offset() + e.size(); off += normG.length) {
                int n = Math.min(normG.length, e.offset() + e.size() - off);
                if (f32) {
                    g.readFloats(off, normGf, 0, n);
                    if (decay != 0) {
                        p.readFloats(off, normPf, 0, n);
                        for (int i = 0; i < n; i++) {
                            double v = normGf[i] + decay * normPf[i];
                            s += v * v;
                        }
                    } else {
                        s += sumOfSquares(normGf, n);
                    }
                    continue;
                }
                g.read(off, normG, 0, n);
                if (decay != 0) {
                    p.read(off, normP, 0, n);
                    for (int i = 0; i < n; i++) {
                        normG[i] += decay * normP[i];
                    }
                }
                for (int i = 0; i < n; i++) {
                    s += normG[i] * normG[i];
                }
            }
        }
        return s;
    }

    /**
     * The sum of the squares of {@code a[0, n)} in double, in four running sums: with one, each add
     * waits for the one before (a dense gradient of 300,000 values took a twentieth of a step).
     */
    static double sumOfSquares(float[] a, int n) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int i = 0;
        for (; i + 3 < n; i += 4) {
            double v0 = a[i];
            double v1 = a[i + 1];
            double v2 = a[i + 2];
            double v3 = a[i + 3];
            s0 += v0 * v0;
            s1 += v1 * v1;
            s2 += v2 * v2;
            s3 += v3 * v3;
        }
        for (; i < n; i++) {
            double v = a[i];
            s0 += v * v;
        }
        return (s0 + s1) + (s2 + s3);
    }

    double[][] probabilities(MmoeNetwork.Buffers buf) {
        int rows = buf.rows();
        int tasks = network.tasks();
        double[] z = buf.logits();
        double[][] p = new double[heads][rows];
        for (int t = 0; t < tasks; t++) {
            TaskSpec.Loss loss = spec.tasks().get(t).loss();
            // A log-normal task's mean: exp(mu + sigma^2 / 2).
            double halfVariance = loss == TaskSpec.Loss.LOGNORMAL
                    ? 0.5
                            * Math.exp(network.paramAccess()
                                    .get(network.taskLogVariance(t).offset()))
                    : 0;
            for (int r = 0; r < rows; r++) {
                double zt = z[r * tasks + t];
                p[t][r] = switch (loss) {
                    case LOGLOSS -> Objective.sigmoid(zt);
                    case MSE -> zt;
                    case LOGNORMAL -> Math.exp(zt + halfVariance);
                };
            }
        }
        if (spec.architecture().esmm()) {
            int ctr = spec.esmmClickTask();
            int cvr = spec.esmmConversionTask();
            for (int r = 0; r < rows; r++) {
                p[tasks][r] = p[ctr][r] * p[cvr][r];
            }
        }
        if (spec.architecture().fakeNegativeCalibration()) {
            calibrateFakeNegatives(p, rows);
        }
        return p;
    }

    /**
     * Fake-negative calibration (FNC, Ktena et al.): a head trained on a stream in which every
     * positive first came as a negative learns b = p / (1 + p); it serves p = b / (1 - b), at most 1.
     * With ESMM the trained heads are CTR and CTCVR (pCVR is their ratio), else every binary task.
     */
    private void calibrateFakeNegatives(double[][] p, int rows) {
        int tasks = network.tasks();
        boolean esmm = spec.architecture().esmm();
        int ctr = spec.esmmClickTask();
        int cvr = spec.esmmConversionTask();
        for (int t = 0; t < tasks; t++) {
            if (spec.tasks().get(t).regression() || (esmm && t == cvr)) {
                continue;
            }
            for (int r = 0; r < rows; r++) {
                p[t][r] = unbias(p[t][r]);
            }
        }
        if (esmm) {
            for (int r = 0; r < rows; r++) {
                p[tasks][r] = unbias(p[tasks][r]);
                p[cvr][r] = p[ctr][r] > 0 ? Math.min(1, p[tasks][r] / p[ctr][r]) : 0;
            }
        }
    }

    private static double unbias(double b) {
        return b >= 0.5 ? 1 : b / (1 - b);
    }

    /**
     * A copy of everything a served prediction depends on, for keeping the best epoch: the dense
     * parameters as served ({@link #servedParams}).
     */
    public record Parameters(double[] dense, Object tables, double[][] denseStats) {}

    public Parameters copyParameters() {
        int nd = spec.features().dense().size();
        double[][] stats = new double[nd][];
        for (int i = 0; i < nd; i++) {
            stats[i] = new double[] {normalizer.count(i), normalizer.mean(i), normalizer.variance(i)};
        }
        // Copies through the arrays' memory, not ND4J ops: no ND4J op class is needed to copy a model.
        double[] dense = new double[network.paramAccess().length()];
        servedParams().read(0, dense, 0, dense.length);
        return new Parameters(dense, embeddings.copyTables(), stats);
    }

    /**
     * Sets everything a prediction depends on (dense parameters, tables, dense statistics) to the
     * values of {@code src}, a model of the same spec; bulk copies, no allocation.
     */
    public void copyParametersFrom(MmoeModel src) {
        if (!src.spec.equals(spec)) {
            throw new IllegalArgumentException("copyParametersFrom needs a model of the same spec");
        }
        double[] dense = new double[network.paramAccess().length()];
        src.network.paramAccess().read(0, dense, 0, dense.length);
        network.paramAccess().write(0, dense, 0, dense.length);
        embeddings.copyTablesFrom(src.embeddings);
        for (int i = 0; i < spec.features().dense().size(); i++) {
            normalizer.set(i, src.normalizer.count(i), src.normalizer.mean(i), src.normalizer.variance(i));
        }
    }

    /** Sets what {@link #copyParameters} copied; the serving average, if any, starts over there. */
    public void restoreParameters(Parameters p) {
        network.paramAccess().write(0, p.dense(), 0, p.dense().length);
        if (average != null) {
            average.reset();
        }
        embeddings.restoreTables(p.tables());
        for (int i = 0; i < p.denseStats().length; i++) {
            normalizer.set(i, p.denseStats()[i][0], p.denseStats()[i][1], p.denseStats()[i][2]);
        }
    }

    public ModelSpec spec() {
        return spec;
    }

    public DataType type() {
        return type;
    }

    public MmoeNetwork network() {
        return network;
    }

    public Embeddings embeddings() {
        return embeddings;
    }

    public DenseNormalizer normalizer() {
        return normalizer;
    }

    /** Optimizer state of the dense parameters, one flat array per slot. */
    public List<INDArray> denseOptimizerState() {
        return List.of(denseState);
    }

    /** Optimizer steps applied so far. */
    public long step() {
        return step;
    }

    public long examplesSeen() {
        return examplesSeen;
    }

    /** Batches skipped because their loss or gradient was not finite. */
    public long skippedBatches() {
        return skippedBatches;
    }
}
