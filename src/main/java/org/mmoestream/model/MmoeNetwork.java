package org.mmoestream.model;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The dense part of the model, from the input row x (embeddings then dense values) to one logit
 * per task: experts f_i, gates g^k(x) = softmax(W_gk x) and towers h^k, with y_k = h^k(sum_i
 * g^k(x)_i f_i(x)) (MMoE paper, Eq. 5-6). OMoE shares one gate; shared-bottom is one expert with a
 * fixed weight of 1; single-task gives each task its own expert.
 *
 * <p>All dense parameters live in one flat buffer ({@link #params()}), gradients in another of the
 * same layout; both are the primitive arrays that state backends and snapshots store. The layout
 * puts the first layer of every expert and every gate (all of which read x) next to each other, so
 * that they form one [sum of widths, input] matrix: the forward pass computes all of them in one
 * product, and the backward pass their weight gradients in one and dLoss/dx in one, as PyTorch's
 * batched experts do. Deeper layers and towers are a product each. Products run on OpenBLAS
 * ({@link Blas}) over native buffers; biases, ReLU, softmax and the mixture run over heap copies.
 *
 * <p>PLE (Tang et al., RecSys 2020) may stack extraction levels: each level below the top one is
 * an instance of this class without towers (in {@link #lower}), with a gate per task and a shared
 * one, whose mixtures the level above reads, a task's experts and gate its task's, the shared
 * experts the shared one; every level's first layers are one product per input block. All levels
 * share the one flat parameter buffer and layout.
 *
 * <p>Buffers hold a capacity of rows: a batch of any size up to it reuses them (scoring's
 * micro-batches vary in size), so no step allocates.
 */
public final class MmoeNetwork {

    /**
     * One fully connected layer: weight [out, in] and optional bias [out] in the flat buffers; {@code
     * dropped}: a ReLU layer of an expert or tower, whose outputs dropout drops in training.
     */
    private record Layer(
            ParamLayout.Entry weight,
            ParamLayout.Entry bias,
            Activation act,
            int index,
            boolean dropped,
            BatchNorm bn) {
        /** Whether the layer has a nonlinearity (hidden), or is linear (a chain's output). */
        boolean activated() {
            return act != Activation.NONE;
        }

        int in() {
            return weight.cols();
        }

        int out() {
            return weight.rows();
        }
    }

    /**
     * Batch normalization of a hidden layer's pre-activations (Ioffe and Szegedy, 2015), before its
     * nonlinearity, as DeepCTR's DNN does: in training, each unit standardized by the batch's mean
     * and variance, then scaled by gamma and shifted by beta (learned), the running statistics
     * updated with momentum {@link #MOMENTUM}; at inference, and for a training micro-batch of fewer
     * than {@link #MIN_BATCH} rows (a stream's small flushes), the running statistics instead, held
     * fixed. The layer's own bias is not used (the mean removes it). The running statistics are
     * parameters the loss does not depend on: their gradient is 0, so no optimizer moves them.
     */
    private static final class BatchNorm {
        static final double MOMENTUM = 0.01;
        static final double EPS = 1e-3;
        static final int MIN_BATCH = 16;
        final ParamLayout.Entry gamma;
        final ParamLayout.Entry beta;
        final ParamLayout.Entry mean;
        final ParamLayout.Entry var;
        /** The last pass's mean and 1 / sqrt(var + eps) per unit, and whether they were the batch's. */
        final double[] mu;

        final double[] invStd;
        boolean batchStats;

        BatchNorm(ParamLayout layout, String prefix, int width) {
            gamma = layout.get(prefix + "bn.gamma");
            beta = layout.get(prefix + "bn.beta");
            mean = layout.get(prefix + "bn.running_mean");
            var = layout.get(prefix + "bn.running_var");
            mu = new double[width];
            invStd = new double[width];
        }
    }

    /**
     * A chain of layers: an expert (ReLU layers), a gate (ReLU hidden layers, then a linear layer
     * whose softmax over the experts is the gate), or a tower (ReLU hidden layers, then one linear
     * output unit). Experts and gates read x; their first layer is the block of columns [{@code
     * col}, col + width) of the bottom product.
     */
    private record Chain(Layer[] layers, boolean softmax, int col, boolean[] mask) {
        Layer last() {
            return layers[layers.length - 1];
        }
    }

    private final Architecture arch;
    private final int inputDim;
    private final int tasks;
    private final int experts;
    private final DataType type;
    private final ParamLayout layout;
    /** Entries in the order of initialization (expert by expert, gates, towers), kept from the old layout. */
    private final List<ParamLayout.Entry> initOrder = new ArrayList<>();

    // The flat buffers, shared by every extraction level of a stacked PLE (bound after the layout is complete).
    private INDArray params;
    private INDArray grads;
    private NdAccess paramAcc;
    private NdAccess gradAcc;
    private Blas.Ptr paramPtr;
    private Blas.Ptr gradPtr;
    /** PLE with several levels: this network's level, 1 to the architecture's levels; 1 otherwise. */
    private final int level;
    /**
     * The extraction levels below this one (stacked PLE, on the top network only), level 1 first:
     * each computes from its input a mixture per task and a shared one, which the next level reads.
     */
    private final MmoeNetwork[] lower;
    /** Mixtures this network computes: one per task, plus a shared one on an extraction level. */
    private final int mixes;
    /** Widths of the input's blocks: [inputDim] on level 1; each task's mixture, then the shared one, above. */
    private final int[] blockWidth;
    /**
     * The bottom product in groups, one per input block: the experts and gates that read block q are
     * the columns [groupCol[q], + groupWidth[q]) of the bottom, their first-layer weights one
     * [groupWidth[q], blockWidth[q]] matrix at {@code groupOffset[q]}.
     */
    private final int[] groupCol;

    private final int[] groupWidth;
    private final int[] groupOffset;
    private final Chain[] expertChains;
    private final Chain[] gateChains;
    private final Chain[] towerChains;
    private final int[] gateOfTask;
    private final int[] expertOfTask;
    /** Width of the bottom product (first layers of experts and gates). */
    private final int bottomWidth;

    private final int mixWidth;
    /** The tensor of the tasks' learned log-variances s_t (uncertainty weighting of the loss). */
    public static final String LOG_VARIANCE = "loss.log_variance";

    /** Its entry in the layout, or null without uncertainty weighting. */
    private final ParamLayout.Entry logVariance;
    /** The bias tower's weights over the bias-feature columns, [biasDim], and its bias, [1]. */
    public static final String BIAS_WEIGHT = "bias_tower.out.weight";

    public static final String BIAS_BIAS = "bias_tower.out.bias";
    /** Their entries, or null without bias features. */
    private final ParamLayout.Entry biasWeight;

    private final ParamLayout.Entry biasBias;
    /** Per task, the entry of a log-normal task's log sigma^2 ({@code tower.<task>.log_variance}), or null. */
    private final ParamLayout.Entry[] taskLogVariance;

    /** The hidden layers' nonlinearity. */
    private final Activation activation;
    /** Whether the experts' and towers' hidden layers are batch-normalized. */
    private final boolean batchNorm;

    /** Training only: the probability that a gate drops an expert from a row's mixture. */
    private final double gateDropout;
    /** Training only: the probability that dropout zeroes an output of an expert's or tower's ReLU layer. */
    private final double unitDropout;
    /** Whether the last forward pass was a training pass (batch statistics, running ones updated). */
    private boolean trainingPass;

    /** The last forward pass's dropout: whether it dropped units, and the seed of its masks. */
    private boolean dropping;

    private long dropSeed;
    /** Doubles per chunk of an element-wise pass (two such arrays stay in L1 and L2). */
    private static final int CHUNK = 4096;
    /** Rows per chunk of the mixture's passes. */
    private static final int MIX_ROWS = 16;

    private final List<Layer> allLayers = new ArrayList<>();
    /** Per layer (by index): its bias, read once per pass in the model's type, and its bias gradient. */
    private final float[][] biasesF;

    private final double[][] biasesD;
    private final float[][] biasGradsF;
    private final double[][] biasGradsD;
    /** The first layers of experts and gates, in column order, and their columns in the bottom product. */
    private final Layer[] bottomLayers;

    private final int[] bottomCols;
    /** Whether the element-wise passes run in float32 (the model's type), else float64. */
    private final boolean f32;
    /** Scratch of the element-wise passes, in the model's type (the other pair stays empty). */
    private final float[] saF;

    private final float[] sbF;
    private final double[] saD;
    private final double[] sbD;
    private final float[][] mixExpertF;
    private final double[][] mixExpertD;
    private final float[][] mixGateF;
    private final double[][] mixGateD;
    private final float[][] mixDeF;
    private final double[][] mixDeD;
    private final float[] mixDzF;
    private final double[] mixDzD;
    private final double[][] mixDp;
    private Buffers buf;

    /** A tensor to be laid out: name, shape, whether it is a weight. */
    private record Tensor(String name, int rows, int cols, boolean weight) {}

    /** Builds the layout for {@code taskSpecs} and allocates zeroed parameters; no bias tower. */
    public MmoeNetwork(Architecture arch, int inputDim, List<TaskSpec> taskSpecs, DataType type) {
        this(arch, inputDim, 0, taskSpecs, type);
    }

    /**
     * Builds the layout for {@code taskSpecs}, with the bias tower's linear unit over {@code biasDim}
     * bias-feature columns when that is above 0 (read by the model, not by a layer), and allocates
     * zeroed parameters.
     */
    public MmoeNetwork(Architecture arch, int inputDim, int biasDim, List<TaskSpec> taskSpecs, DataType type) {
        this(arch, inputDim, biasDim, taskSpecs, type, new ParamLayout(), levelsOf(arch));
    }

    /** Extraction levels of {@code arch}: PLE's {@code levels}, 1 for every other variant. */
    private static int levelsOf(Architecture arch) {
        return arch.variant() == Variant.PLE ? Math.max(1, arch.levels()) : 1;
    }

    /**
     * Level {@code level} of the network, its tensors added to {@code sharedLayout}. The top level
     * (the only one but for stacked PLE) builds the levels below it first, so that memory holds level
     * 1, then 2, ..., then the top with its towers, and allocates the buffers they all use. A lower
     * (extraction) level has a gate per task and a shared gate over all its experts, and no towers.
     */
    private MmoeNetwork(
            Architecture arch,
            int inputDim,
            int biasDim,
            List<TaskSpec> taskSpecs,
            DataType type,
            ParamLayout sharedLayout,
            int level) {
        List<String> taskNames = taskSpecs.stream().map(TaskSpec::name).toList();
        if (arch.expertHidden().isEmpty()) {
            throw new IllegalArgumentException("expert_hidden needs at least one layer");
        }
        this.arch = arch;
        this.layout = sharedLayout;
        this.level = level;
        int levels = levelsOf(arch);
        boolean top = level == levels;
        this.inputDim = inputDim;
        this.tasks = top ? taskNames.size() : 0;
        this.type = type;
        this.gateDropout = arch.gateDropout();
        this.activation = arch.activation();
        this.batchNorm = arch.batchNorm();
        this.unitDropout = arch.dropout();
        int taskCount = taskNames.size();
        this.lower = new MmoeNetwork[top ? levels - 1 : 0];
        for (int k = 0; k < lower.length; k++) {
            lower[k] = new MmoeNetwork(arch, inputDim, 0, taskSpecs, type, sharedLayout, k + 1);
        }
        this.experts = switch (arch.variant()) {
            case MMOE, OMOE -> arch.experts();
            case PLE -> arch.sharedExperts() + taskCount * arch.taskExperts();
            case SHARED_BOTTOM -> 1;
            case SINGLE_TASK -> taskCount;
        };
        // An extraction level adds a shared gate (over all its experts) to the tasks' gates.
        int gates = switch (arch.variant()) {
            case MMOE -> taskCount;
            case PLE -> top ? taskCount : taskCount + 1;
            case OMOE -> 1;
            default -> 0;
        };
        mixes = top ? taskCount : taskCount + 1;
        gateOfTask = new int[mixes];
        expertOfTask = new int[mixes];
        for (int t = 0; t < mixes; t++) {
            gateOfTask[t] = gates == 0 ? -1 : Math.min(t, gates - 1);
            expertOfTask[t] = arch.variant() == Variant.SINGLE_TASK ? t : 0;
        }
        mixWidth = last(arch.expertHidden());
        // Level 1 reads the input; a level above it reads the mixtures of the one below, each task's
        // experts and gate that task's, the shared experts and gate the shared one (block tasks).
        blockWidth = new int[level == 1 ? 1 : taskCount + 1];
        java.util.Arrays.fill(blockWidth, level == 1 ? inputDim : mixWidth);
        String prefix = level == 1 ? "" : "level." + level + ".";
        // The tensors in their logical order; the first layers of experts and gates go first in memory.
        List<List<Tensor>> expertT = new ArrayList<>();
        int[] expertBlock = new int[experts];
        for (int e = 0; e < experts; e++) {
            expertBlock[e] = level == 1 ? 0 : blockOfExpert(arch, e, taskCount);
            expertT.add(mlp(prefix + "expert." + e + ".layer.", blockWidth[expertBlock[e]], arch.expertHidden()));
        }
        String[] gateName = new String[gates];
        int[] gateBlock = new int[gates];
        List<List<Tensor>> gateT = new ArrayList<>();
        for (int g = 0; g < gates; g++) {
            gateName[g] = arch.variant() == Variant.OMOE || g == taskCount ? "shared" : taskNames.get(g);
            gateBlock[g] = level == 1 ? 0 : g;
            int in = blockWidth[gateBlock[g]];
            List<Tensor> t = mlp(prefix + "gate." + gateName[g] + ".layer.", in, arch.gateHidden());
            t.add(new Tensor(
                    prefix + "gate." + gateName[g] + ".weight",
                    experts,
                    arch.gateHidden().isEmpty() ? in : last(arch.gateHidden()),
                    true));
            gateT.add(t);
        }
        List<List<Tensor>> towerT = new ArrayList<>();
        for (int t = 0; t < tasks; t++) {
            String p = "tower." + taskNames.get(t) + ".";
            List<Tensor> l = mlp(p + "layer.", mixWidth, arch.towerHidden());
            l.add(new Tensor(
                    p + "out.weight", 1, arch.towerHidden().isEmpty() ? mixWidth : last(arch.towerHidden()), true));
            l.add(new Tensor(p + "out.bias", 1, 1, false));
            towerT.add(l);
        }
        List<Tensor> logical = new ArrayList<>();
        // The bottom layers (experts', then gates') grouped by the block they read, in block order.
        List<Tensor> bottom = new ArrayList<>();
        List<Integer> bottomBlock = new ArrayList<>();
        for (int e = 0; e < experts; e++) {
            bottom.add(expertT.get(e).get(0));
            bottomBlock.add(expertBlock[e]);
            logical.addAll(expertT.get(e));
        }
        for (int g = 0; g < gates; g++) {
            bottom.add(gateT.get(g).get(0));
            bottomBlock.add(gateBlock[g]);
            logical.addAll(gateT.get(g));
        }
        towerT.forEach(logical::addAll);
        int[] bottomColOf = new int[bottom.size()];
        groupCol = new int[blockWidth.length];
        groupWidth = new int[blockWidth.length];
        groupOffset = new int[blockWidth.length];
        int width = 0;
        for (int blk = 0; blk < blockWidth.length; blk++) {
            groupCol[blk] = width;
            for (int i = 0; i < bottom.size(); i++) {
                if (bottomBlock.get(i) == blk) {
                    Tensor t = bottom.get(i);
                    add(t);
                    if (groupWidth[blk] == 0) {
                        groupOffset[blk] = layout.get(t.name()).offset();
                    }
                    bottomColOf[i] = width;
                    width += t.rows();
                    groupWidth[blk] += t.rows();
                }
            }
            if (groupWidth[blk] == 0) {
                throw new IllegalArgumentException("level " + level + ": nothing reads input block " + blk);
            }
        }
        for (Tensor t : logical) {
            if (!bottom.contains(t)) {
                add(t);
            }
        }
        for (Tensor t : logical) {
            initOrder.add(layout.get(t.name()));
        }
        if (arch.batchNorm()) {
            // Per hidden layer of every expert and tower: gamma (1), beta (0) and the running mean (0) and
            // variance (1); bias-kind entries (no L2), after the layers in memory.
            List<Tensor> hidden = new ArrayList<>();
            for (List<Tensor> chain : expertT) {
                hidden.addAll(chain);
            }
            for (List<Tensor> chain : towerT) {
                hidden.addAll(chain.subList(0, chain.size() - 2));
            }
            for (Tensor t : hidden) {
                if (t.weight()) {
                    String p = t.name().substring(0, t.name().length() - "weight".length());
                    for (String k : List.of("bn.gamma", "bn.beta", "bn.running_mean", "bn.running_var")) {
                        add(new Tensor(p + k, t.rows(), 1, false));
                        initOrder.add(layout.get(p + k));
                    }
                }
            }
        }
        boolean lossWeights = top && arch.uncertaintyWeighting();
        if (lossWeights) {
            // Not a layer: the loss reads it (MmoeModel); last in memory and in initialization (at 0).
            add(new Tensor(LOG_VARIANCE, tasks, 1, false));
            initOrder.add(layout.get(LOG_VARIANCE));
        }
        logVariance = lossWeights ? layout.get(LOG_VARIANCE) : null;
        if (biasDim > 0) {
            // Zero at the start (no bias effect until it is learned), no L2: bias-kind entries.
            add(new Tensor(BIAS_WEIGHT, biasDim, 1, false));
            add(new Tensor(BIAS_BIAS, 1, 1, false));
            initOrder.add(layout.get(BIAS_WEIGHT));
            initOrder.add(layout.get(BIAS_BIAS));
        }
        biasWeight = biasDim > 0 ? layout.get(BIAS_WEIGHT) : null;
        biasBias = biasDim > 0 ? layout.get(BIAS_BIAS) : null;
        taskLogVariance = new ParamLayout.Entry[tasks];
        for (int t = 0; t < tasks; t++) {
            if (taskSpecs.get(t).loss() == TaskSpec.Loss.LOGNORMAL) {
                // The log-normal task's log sigma^2, read by the loss, not by a layer; starts at 0.
                String name = "tower." + taskNames.get(t) + ".log_variance";
                add(new Tensor(name, 1, 1, false));
                initOrder.add(layout.get(name));
                taskLogVariance[t] = layout.get(name);
            }
        }
        bottomWidth = width;
        if (top) {
            bind(Nd4j.zeros(type, layout.size()), Nd4j.zeros(type, layout.size()));
            for (MmoeNetwork l : lower) {
                l.bind(params, grads);
            }
        }
        expertChains = new Chain[experts];
        for (int e = 0; e < experts; e++) {
            expertChains[e] = new Chain(layers(expertT.get(e), false, true), false, bottomColOf[e], null);
        }
        gateChains = new Chain[gates];
        for (int g = 0; g < gates; g++) {
            boolean[] mask = g < taskCount ? gateMask(arch, g, experts) : null;
            gateChains[g] = new Chain(layers(gateT.get(g), true, false), true, bottomColOf[experts + g], mask);
        }
        towerChains = new Chain[tasks];
        for (int t = 0; t < tasks; t++) {
            towerChains[t] = new Chain(layers(towerT.get(t), true, true), false, -1, null);
        }
        f32 = type == DataType.FLOAT;
        int layerCount = allLayers.size();
        biasesF = new float[f32 ? layerCount : 0][];
        biasesD = new double[f32 ? 0 : layerCount][];
        biasGradsF = new float[f32 ? layerCount : 0][];
        biasGradsD = new double[f32 ? 0 : layerCount][];
        int widest = 0;
        for (Layer l : allLayers) {
            if (f32) {
                biasesF[l.index()] = new float[l.out()];
                biasGradsF[l.index()] = new float[l.out()];
            } else {
                biasesD[l.index()] = new double[l.out()];
                biasGradsD[l.index()] = new double[l.out()];
            }
            widest = Math.max(widest, Math.max(l.out(), l.in()));
        }
        bottomLayers = new Layer[experts + gates];
        bottomCols = new int[experts + gates];
        for (int i = 0; i < experts + gates; i++) {
            Chain c = i < experts ? expertChains[i] : gateChains[i - experts];
            bottomLayers[i] = c.layers[0];
            bottomCols[i] = c.col;
        }
        int scratch = Math.max(Math.max(CHUNK, widest), Math.max(bottomWidth, MIX_ROWS * mixWidth));
        int mixH = MIX_ROWS * mixWidth;
        int mixE = MIX_ROWS * experts;
        saF = new float[f32 ? scratch : 0];
        sbF = new float[f32 ? scratch : 0];
        saD = new double[f32 ? 0 : scratch];
        sbD = new double[f32 ? 0 : scratch];
        mixExpertF = new float[f32 ? experts : 0][mixH];
        mixExpertD = new double[f32 ? 0 : experts][mixH];
        mixGateF = new float[f32 ? gates : 0][mixE];
        mixGateD = new double[f32 ? 0 : gates][mixE];
        mixDeF = new float[f32 ? experts : 0][mixH];
        mixDeD = new double[f32 ? 0 : experts][mixH];
        mixDzF = new float[f32 ? mixE : 0];
        mixDzD = new double[f32 ? 0 : mixE];
        mixDp = new double[gates][mixE];
    }

    /** The flat parameter and gradient buffers this level reads and writes (all levels share them). */
    private void bind(INDArray p, INDArray g) {
        params = p;
        grads = g;
        paramAcc = NdAccess.of(p);
        gradAcc = NdAccess.of(g);
        paramPtr = new Blas.Ptr(p);
        gradPtr = new Blas.Ptr(g);
    }

    /**
     * Reads and trains {@code src}'s parameters from now on (the same memory) and keeps its own
     * gradient buffer and scratch: a thread that computes a part of a step's gradient. A network with
     * batch normalization updates its running statistics in the forward pass, so it cannot share.
     */
    void shareParameters(MmoeNetwork src) {
        if (batchNorm) {
            throw new IllegalArgumentException("a network with batch normalization cannot share its parameters");
        }
        if (src.layout.size() != layout.size()) {
            throw new IllegalArgumentException("layouts differ: " + src.layout.size() + " and " + layout.size());
        }
        bind(src.params, grads);
        for (MmoeNetwork l : lower) {
            l.bind(params, grads);
        }
    }

    /** Whether the hidden layers are batch-normalized (their running statistics change in training passes). */
    public boolean batchNormalized() {
        return batchNorm;
    }

    /**
     * The input block a PLE expert above level 1 reads: the shared mixture (block {@code tasks}) for a
     * shared expert (numbered first), else its task's.
     */
    private static int blockOfExpert(Architecture arch, int e, int tasks) {
        int own = e - arch.sharedExperts();
        return own < 0 ? tasks : own / arch.taskExperts();
    }

    private void add(Tensor t) {
        if (t.weight()) {
            layout.addWeight(t.name(), t.rows(), t.cols());
        } else {
            layout.addBias(t.name(), t.rows());
        }
    }

    /** weight, bias, weight, bias ... of a ReLU MLP. */
    private static List<Tensor> mlp(String prefix, int in, List<Integer> widths) {
        List<Tensor> out = new ArrayList<>();
        for (int j = 0; j < widths.size(); j++) {
            out.add(new Tensor(prefix + j + ".weight", widths.get(j), in, true));
            out.add(new Tensor(prefix + j + ".bias", widths.get(j), 1, false));
            in = widths.get(j);
        }
        return out;
    }

    /**
     * The layers of a chain's tensors; all ReLU except the last when {@code linearLast}; with {@code
     * dropout}, its ReLU layers are dropped in training when the architecture asks for dropout.
     */
    private Layer[] layers(List<Tensor> tensors, boolean linearLast, boolean dropout) {
        List<Layer> out = new ArrayList<>();
        for (int i = 0; i < tensors.size(); i++) {
            ParamLayout.Entry w = layout.get(tensors.get(i).name());
            ParamLayout.Entry b = null;
            if (i + 1 < tensors.size() && !tensors.get(i + 1).weight()) {
                b = layout.get(tensors.get(++i).name());
            }
            boolean hidden = !(linearLast && i == tensors.size() - 1);
            Activation act = hidden ? activation : Activation.NONE;
            String prefix = w.name().substring(0, w.name().length() - "weight".length());
            BatchNorm bn = dropout && hidden && batchNorm ? new BatchNorm(layout, prefix, w.rows()) : null;
            Layer l = new Layer(w, b, act, allLayers.size(), dropout && hidden && unitDropout > 0, bn);
            allLayers.add(l);
            out.add(l);
        }
        return out.toArray(new Layer[0]);
    }

    private static int last(List<Integer> widths) {
        return widths.get(widths.size() - 1);
    }

    /** Glorot-uniform weights, zero biases, drawn expert by expert, then gates and towers, from {@code rnd}. */
    public void initialize(SplittableRandom rnd) {
        for (MmoeNetwork l : lower) {
            l.initialize(rnd);
        }
        for (ParamLayout.Entry e : initOrder) {
            double a = e.weight() ? Math.sqrt(6.0 / (e.rows() + e.cols())) : 0;
            // Batch normalization starts as the identity: gamma and the running variance at 1.
            double one = e.name().endsWith("bn.gamma") || e.name().endsWith("bn.running_var") ? 1 : 0;
            for (int i = 0; i < e.size(); i++) {
                paramAcc.set(e.offset() + i, e.weight() ? (rnd.nextDouble() * 2 - 1) * a : one);
            }
        }
    }

    public ParamLayout layout() {
        return layout;
    }

    /** The layout entry of the bias tower's weights, [biasDim], or null without bias features. */
    public ParamLayout.Entry biasWeight() {
        return biasWeight;
    }

    /** The layout entry of the bias tower's bias, [1], or null without bias features. */
    public ParamLayout.Entry biasBias() {
        return biasBias;
    }

    /** The layout entry of task {@code t}'s log-normal log-variance, [1], or null for other losses. */
    public ParamLayout.Entry taskLogVariance(int t) {
        return taskLogVariance[t];
    }

    /** The layout entry of {@link #LOG_VARIANCE}, [tasks], or null when the loss weights are fixed. */
    public ParamLayout.Entry logVariance() {
        return logVariance;
    }

    /** The flat parameter buffer (layout order). */
    public INDArray params() {
        return params;
    }

    /** The flat gradient buffer (layout order). */
    INDArray gradBuffer() {
        return grads;
    }

    public NdAccess paramAccess() {
        return paramAcc;
    }

    public NdAccess gradAccess() {
        return gradAcc;
    }

    public int inputDim() {
        return inputDim;
    }

    public int experts() {
        return experts;
    }

    public int tasks() {
        return tasks;
    }

    /** Number of softmax gates (tasks for MMoE, 1 for OMoE, 0 otherwise). */
    public int gates() {
        return gateChains.length;
    }

    /** Gate used by task {@code t}, or -1 when its mixture is fixed. */
    public int gateOfTask(int t) {
        return gateOfTask[t];
    }

    public DataType type() {
        return type;
    }

    /** The buffers for a batch of {@code rows}; reused while they have the capacity. */
    public Buffers buffers(int rows) {
        if (buf == null || buf.capacity < rows) {
            int capacity = Math.max(rows, buf == null ? 0 : buf.capacity);
            Buffers below = null;
            Buffers[] lowerBufs = new Buffers[lower.length];
            for (int k = 0; k < lower.length; k++) {
                lowerBufs[k] = lower[k].new Buffers(capacity, below, null);
                below = lowerBufs[k];
            }
            buf = new Buffers(capacity, below, lowerBufs);
        }
        buf.rows = rows;
        for (Buffers l : buf.lower) {
            l.rows = rows;
        }
        return buf;
    }

    /** Output and gradient of a chain layer outside the bottom product, [capacity, width] each. */
    private final class LayerBuf {
        /** Pre-activations from the product, then activations. */
        final Mat out;
        /** dLoss/dActivation from the next product, then dLoss/dPreactivation. */
        final Mat dz;

        LayerBuf(int capacity, int width) {
            out = new Mat(type, capacity, width);
            dz = new Mat(type, capacity, width);
        }
    }

    /**
     * Activations and gradients of up to {@code capacity} rows, all in native matrices of the model's
     * data type (so float32 models keep float32 activations); element-wise passes read them a chunk
     * of rows at a time into double scratch arrays. Callers fill x and read dx.
     */
    public final class Buffers {
        final int capacity;
        int rows;
        /** The model input and its gradient, on level 1 (null above it). */
        final Mat x;

        final Mat dx;
        /** The input's blocks and their gradients: x, or the level below's mixtures. */
        final Mat[] in;

        final Mat[] din;
        /** On the top level of a stacked PLE: the buffers of the levels below, level 1 first. */
        final Buffers[] lower;
        /** The bottom product: pre-activations, then activations of every expert's and gate's first layer. */
        final Mat bottom;

        final Mat bottomDz;
        final LayerBuf[][] expertBufs;
        final LayerBuf[][] gateBufs;
        final LayerBuf[][] towerBufs;
        final Mat[] mix;
        final Mat[] dmix;
        final double[] logits;
        /** One value per row: a tower's output or its gradient. */
        final double[] column;
        /**
         * Heap copies of the outputs of one-layer experts and gates (by their index among the bottom
         * layers, null for deeper chains), made by the bottom's activation pass for the mixture, so
         * that the mixture does not read the whole bottom product for a few columns.
         */
        final float[][] oneLayerOutF;

        final double[][] oneLayerOutD;
        /** The gates' distributions before dropout, [gate][row * experts + expert], when dropped. */
        final double[][] gateFull;
        /** Whether the last forward pass dropped experts from the gates' outputs. */
        boolean gatesDropped;
        /** Per batch-normalized layer (by index), its normalized pre-activations of the last pass. */
        final double[][] bnHat;
        /** Scratch of the batch normalization passes: a layer's rows, and three per-unit columns. */
        final double[] bnScratch;

        final double[] bnColumn;
        final double[] bnGamma;
        final double[] bnBeta;

        /** Buffers reading the mixtures of {@code below} (null on level 1), with the lower levels' ones. */
        Buffers(int capacity, Buffers below, Buffers[] lowerBufs) {
            this.capacity = capacity;
            this.lower = lowerBufs == null ? new Buffers[0] : lowerBufs;
            x = below == null ? new Mat(type, capacity, inputDim) : null;
            dx = below == null ? new Mat(type, capacity, inputDim) : null;
            in = below == null ? new Mat[] {x} : below.mix;
            din = below == null ? new Mat[] {dx} : below.dmix;
            bottom = new Mat(type, capacity, bottomWidth);
            bottomDz = new Mat(type, capacity, bottomWidth);
            expertBufs = chainBufs(expertChains, capacity, 1);
            gateBufs = chainBufs(gateChains, capacity, 1);
            towerBufs = chainBufs(towerChains, capacity, 0);
            mix = new Mat[mixes];
            dmix = new Mat[mixes];
            for (int t = 0; t < mixes; t++) {
                mix[t] = new Mat(type, capacity, mixWidth);
                dmix[t] = new Mat(type, capacity, mixWidth);
            }
            logits = new double[capacity * tasks];
            column = new double[capacity];
            gateFull = new double[gateDropout > 0 ? gateChains.length : 0][capacity * experts];
            bnHat = new double[allLayers.size()][];
            int bnWidth = 0;
            for (Layer l : allLayers) {
                if (l.bn() != null) {
                    bnHat[l.index] = new double[capacity * l.out()];
                    bnWidth = Math.max(bnWidth, l.out());
                }
            }
            bnScratch = new double[capacity * bnWidth];
            bnColumn = new double[bnWidth];
            bnGamma = new double[bnWidth];
            bnBeta = new double[bnWidth];
            oneLayerOutF = new float[bottomLayers.length][];
            oneLayerOutD = new double[bottomLayers.length][];
            for (int i = 0; i < bottomLayers.length; i++) {
                Chain c = i < experts ? expertChains[i] : gateChains[i - experts];
                if (c.layers.length == 1) {
                    if (f32) {
                        oneLayerOutF[i] = new float[capacity * c.layers[0].out()];
                    } else {
                        oneLayerOutD[i] = new double[capacity * c.layers[0].out()];
                    }
                }
            }
        }

        private LayerBuf[][] chainBufs(Chain[] chains, int capacity, int from) {
            LayerBuf[][] out = new LayerBuf[chains.length][];
            for (int c = 0; c < chains.length; c++) {
                out[c] = new LayerBuf[chains[c].layers.length];
                for (int j = from; j < out[c].length; j++) {
                    out[c][j] = new LayerBuf(capacity, chains[c].layers[j].out());
                }
            }
            return out;
        }

        public int rows() {
            return rows;
        }

        /** The buffers of level 1, which hold the model input. */
        private Buffers first() {
            return lower.length > 0 ? lower[0] : this;
        }

        /** Writes the model input, [rows, inputDim] row-major. */
        public void setInput(double[] values) {
            first().x.write(rows, values);
        }

        /** Writes the model input of a float32 model, [rows, inputDim] row-major, without conversion. */
        public void setInput(float[] values) {
            first().x.acc.writeFloats(0, values, 0, rows * inputDim);
        }

        /** Reads dLoss/dInput of a float32 model after {@link #backward}, without conversion. */
        public void readInputGradient(float[] dst) {
            first().dx.acc.readFloats(0, dst, 0, rows * inputDim);
        }

        /** Reads dLoss/dInput after {@link #backward}. */
        public void readInputGradient(double[] dst) {
            first().dx.read(rows, dst);
        }

        /** Logits [rows, tasks] row-major after {@link #forward}. */
        public double[] logits() {
            return logits;
        }

        /**
         * The probability gate {@code g} gives expert {@code e} on row {@code r}, after {@link #forward}
         * (before gate dropout: the gate's own distribution).
         */
        public double gateProbability(int g, int r, int e) {
            if (gatesDropped) {
                return gateFull[g][r * experts + e];
            }
            Chain c = gateChains[g];
            if (c.layers.length == 1) {
                return f32 ? oneLayerOutF[experts + g][r * experts + e] : oneLayerOutD[experts + g][r * experts + e];
            }
            return gateBufs[g][c.layers.length - 1].out.acc.get(r * experts + e);
        }
    }

    /** Rows per chunk of an element-wise pass over rows of width {@code width}. */
    private static int chunkRows(int width) {
        return Math.max(1, CHUNK / width);
    }

    /** Forward pass on {@code b.x}; fills the logits and keeps what the backward pass needs. */
    public void forward(Buffers b) {
        forward(b, true);
    }

    /**
     * Forward pass on {@code b.x}; fills the logits, and keeps what the backward pass needs when
     * {@code keep} (a scoring pass does not write back activations nothing will read). No dropout.
     */
    public void forward(Buffers b, boolean keep) {
        forward(b, keep, NO_DROPOUT);
    }

    /** The dropout seed of a pass without dropout (inference). */
    public static final long NO_DROPOUT = Long.MIN_VALUE;

    /**
     * A forward pass; with a {@code dropoutSeed} other than {@link #NO_DROPOUT}, a training pass
     * with the architecture's gate dropout, its masks drawn from that seed (the same seed, the same
     * masks: a gradient check sees one function).
     */
    public void forward(Buffers b, boolean keep, long dropoutSeed) {
        for (int k = 0; k < lower.length; k++) {
            lower[k].forwardToMixtures(b.lower[k], keep, dropoutSeed);
        }
        forwardToMixtures(b, keep, dropoutSeed);
        int rows = b.rows;
        for (int t = 0; t < tasks; t++) {
            Chain c = towerChains[t];
            LayerBuf[] lb = b.towerBufs[t];
            Mat in = b.mix[t];
            for (int j = 0; j < c.layers.length; j++) {
                Layer l = c.layers[j];
                Blas.gemm(
                        false,
                        true,
                        rows,
                        l.out(),
                        l.in(),
                        1,
                        in.ptr,
                        0,
                        l.in(),
                        paramPtr,
                        l.weight().offset(),
                        l.in(),
                        0,
                        lb[j].out.ptr,
                        0,
                        l.out());
                if (l.bn() != null) {
                    bnForward(lb[j].out, 0, l.out(), b, l);
                }
                activate(lb[j].out, rows, l, false, null);
                in = lb[j].out;
            }
            lb[c.layers.length - 1].out.read(rows, b.column);
            for (int r = 0; r < rows; r++) {
                b.logits[r * tasks + t] = b.column[r];
            }
        }
    }

    /**
     * This level's forward pass up to its mixtures, from its input blocks; the masks of its dropout
     * drawn from {@code dropoutSeed} and its level.
     */
    private void forwardToMixtures(Buffers b, boolean keep, long dropoutSeed) {
        int rows = b.rows;
        dropping = dropoutSeed != NO_DROPOUT && unitDropout > 0;
        trainingPass = keep;
        dropSeed = dropoutSeed * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL + (level - 1) * 0x9E3779B97F4A7C15L;
        readBiases();
        // One product per input block for the first layers of the experts and gates that read it (on
        // level 1: one for all of them).
        for (int q = 0; q < blockWidth.length; q++) {
            int w = blockWidth[q];
            Blas.gemm(
                    false,
                    true,
                    rows,
                    groupWidth[q],
                    w,
                    1,
                    b.in[q].ptr,
                    0,
                    w,
                    paramPtr,
                    groupOffset[q],
                    w,
                    0,
                    b.bottom.ptr,
                    groupCol[q],
                    bottomWidth);
        }
        for (int i = 0; i < experts; i++) {
            if (bottomLayers[i].bn() != null) {
                bnForward(b.bottom, bottomCols[i], bottomWidth, b, bottomLayers[i]);
            }
        }
        if (f32) {
            activateBottomF(b);
        } else {
            activateBottomD(b);
        }
        for (int e = 0; e < experts; e++) {
            chainForwardFromBottom(expertChains[e], b.expertBufs[e], b);
        }
        for (int g = 0; g < gateChains.length; g++) {
            chainForwardFromBottom(gateChains[g], b.gateBufs[g], b);
        }
        b.gatesDropped = dropoutSeed != NO_DROPOUT && gateDropout > 0 && gateChains.length > 0;
        if (b.gatesDropped) {
            dropGates(b, new SplittableRandom(dropoutSeed + (level - 1) * 0x632BE59BD9B4E019L));
        }
        if (f32) {
            mixForwardF(b, keep);
        } else {
            mixForwardD(b, keep);
        }
    }

    /**
     * Gate dropout: each gate drops each expert from each row's mixture with probability {@code
     * gateDropout} and renormalizes over the experts kept (all of them when every allowed one was
     * drawn), p'_e = p_e m_e / sum_j p_j m_j. That is the softmax over the kept experts, so the
     * mixture's backward, which reads p', is exact through it: a dropped expert gets no gradient. The
     * gate's own distribution is kept for the gate statistics.
     */
    private void dropGates(Buffers b, SplittableRandom rnd) {
        int rows = b.rows;
        double[] row = new double[experts];
        for (int g = 0; g < gateChains.length; g++) {
            Chain c = gateChains[g];
            double[] full = b.gateFull[g];
            for (int r = 0; r < rows; r++) {
                int o = r * experts;
                double kept = 0;
                for (int e = 0; e < experts; e++) {
                    double p = gateValue(b, g, o + e);
                    full[o + e] = p;
                    boolean allowed = c.mask == null || c.mask[e];
                    row[e] = allowed && rnd.nextDouble() >= gateDropout ? p : 0;
                    kept += row[e];
                }
                if (kept <= 0) {
                    System.arraycopy(full, o, row, 0, experts);
                    kept = 1;
                }
                for (int e = 0; e < experts; e++) {
                    setGateValue(b, g, o + e, row[e] / kept);
                }
            }
        }
    }

    /** Element {@code i} ([row * experts + expert]) of gate {@code g}'s output, where the mixture reads it. */
    private double gateValue(Buffers b, int g, int i) {
        Chain c = gateChains[g];
        if (c.layers.length > 1) {
            return b.gateBufs[g][c.layers.length - 1].out.acc.get(i);
        }
        return f32 ? b.oneLayerOutF[experts + g][i] : b.oneLayerOutD[experts + g][i];
    }

    private void setGateValue(Buffers b, int g, int i, double v) {
        Chain c = gateChains[g];
        if (c.layers.length > 1) {
            b.gateBufs[g][c.layers.length - 1].out.acc.set(i, v);
        } else if (f32) {
            b.oneLayerOutF[experts + g][i] = (float) v;
        } else {
            b.oneLayerOutD[experts + g][i] = v;
        }
    }

    /**
     * Batch normalization of layer {@code l}'s pre-activations in place: the rows of {@code m}, columns
     * [{@code col}, col + width) of row stride {@code ld}. A training pass of at least {@link
     * BatchNorm#MIN_BATCH} rows uses the batch's statistics and moves the running ones towards them;
     * otherwise the running statistics serve. Keeps the normalized values for the backward pass.
     */
    private void bnForward(Mat m, int col, int ld, Buffers b, Layer l) {
        BatchNorm bn = l.bn();
        int w = l.out();
        int rows = b.rows;
        double[] hat = b.bnHat[l.index];
        double[] x = b.bnScratch;
        readBlock(m, col, ld, rows, w, x);
        bn.batchStats = trainingPass && rows >= BatchNorm.MIN_BATCH;
        double[] mean = bn.mu;
        double[] var = b.bnColumn;
        if (bn.batchStats) {
            java.util.Arrays.fill(mean, 0, w, 0);
            java.util.Arrays.fill(var, 0, w, 0);
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < w; j++) {
                    mean[j] += x[r * w + j];
                }
            }
            for (int j = 0; j < w; j++) {
                mean[j] /= rows;
            }
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < w; j++) {
                    double d = x[r * w + j] - mean[j];
                    var[j] += d * d;
                }
            }
            for (int j = 0; j < w; j++) {
                int rm = bn.mean.offset() + j;
                int rv = bn.var.offset() + j;
                paramAcc.set(rm, (1 - BatchNorm.MOMENTUM) * paramAcc.get(rm) + BatchNorm.MOMENTUM * mean[j]);
                paramAcc.set(
                        rv,
                        (1 - BatchNorm.MOMENTUM) * paramAcc.get(rv)
                                + BatchNorm.MOMENTUM * var[j] / Math.max(1, rows - 1));
                var[j] /= rows;
            }
        } else {
            paramAcc.read(bn.mean.offset(), mean, 0, w);
            paramAcc.read(bn.var.offset(), var, 0, w);
        }
        double[] gamma = b.bnGamma;
        double[] beta = b.bnBeta;
        paramAcc.read(bn.gamma.offset(), gamma, 0, w);
        paramAcc.read(bn.beta.offset(), beta, 0, w);
        for (int j = 0; j < w; j++) {
            bn.invStd[j] = 1 / Math.sqrt(var[j] + BatchNorm.EPS);
        }
        for (int r = 0; r < rows; r++) {
            int o = r * w;
            for (int j = 0; j < w; j++) {
                double h = (x[o + j] - mean[j]) * bn.invStd[j];
                hat[o + j] = h;
                x[o + j] = gamma[j] * h + beta[j];
            }
        }
        writeBlock(x, rows, w, m, col, ld);
    }

    /** Reads columns [{@code col}, col + w) of {@code rows} rows of stride {@code ld} of {@code m} into {@code dst}. */
    private static void readBlock(Mat m, int col, int ld, int rows, int w, double[] dst) {
        for (int r = 0; r < rows; r++) {
            m.acc.read(r * ld + col, dst, r * w, w);
        }
    }

    /** Writes {@code rows} rows of {@code w} values of {@code src} into that block of {@code m}. */
    private static void writeBlock(double[] src, int rows, int w, Mat m, int col, int ld) {
        for (int r = 0; r < rows; r++) {
            m.acc.write(r * ld + col, src, r * w, w);
        }
    }

    /**
     * The backward of {@link #bnForward}: {@code dz} (same region) holds dLoss/d(normalized output)
     * and receives dLoss/d(pre-activation); writes the gradients of gamma and beta, and 0 for the
     * unused bias.
     */
    private void bnBackward(Mat dz, int col, int ld, Buffers b, Layer l) {
        BatchNorm bn = l.bn();
        int w = l.out();
        int rows = b.rows;
        double[] hat = b.bnHat[l.index];
        double[] dy = b.bnScratch;
        readBlock(dz, col, ld, rows, w, dy);
        double[] sumDy = b.bnColumn;
        double[] sumDyHat = b.bnBeta;
        java.util.Arrays.fill(sumDy, 0, w, 0);
        java.util.Arrays.fill(sumDyHat, 0, w, 0);
        for (int r = 0; r < rows; r++) {
            int o = r * w;
            for (int j = 0; j < w; j++) {
                sumDy[j] += dy[o + j];
                sumDyHat[j] += dy[o + j] * hat[o + j];
            }
        }
        gradAcc.write(bn.gamma.offset(), sumDyHat, 0, w);
        gradAcc.write(bn.beta.offset(), sumDy, 0, w);
        double[] k = b.bnGamma;
        paramAcc.read(bn.gamma.offset(), k, 0, w);
        for (int j = 0; j < w; j++) {
            k[j] *= bn.invStd[j];
        }
        for (int r = 0; r < rows; r++) {
            int o = r * w;
            for (int j = 0; j < w; j++) {
                dy[o + j] = bn.batchStats
                        ? k[j] * (dy[o + j] - sumDy[j] / rows - hat[o + j] * sumDyHat[j] / rows)
                        : k[j] * dy[o + j];
            }
        }
        writeBlock(dy, rows, w, dz, col, ld);
        if (l.bias() != null) {
            java.util.Arrays.fill(sumDy, 0, w, 0);
            gradAcc.write(l.bias().offset(), sumDy, 0, w);
        }
    }

    /**
     * Dropout over a row of a layer's activations (inverted: kept units scaled by 1 / (1 - rate), so
     * inference needs no change). Whether unit {@code j} of row {@code row} is kept is a hash of the
     * pass's seed, the layer, the row and the unit, so it does not depend on how passes are chunked.
     */
    private void dropRow(float[] a, int o, int w, Layer l, int row) {
        float scale = (float) (1 / (1 - unitDropout));
        long base = unitKeyBase(l, row);
        for (int j = 0; j < w; j++) {
            a[o + j] = kept(base + j) ? a[o + j] * scale : 0f;
        }
    }

    private void dropRow(double[] a, int o, int w, Layer l, int row) {
        double scale = 1 / (1 - unitDropout);
        long base = unitKeyBase(l, row);
        for (int j = 0; j < w; j++) {
            a[o + j] = kept(base + j) ? a[o + j] * scale : 0.0;
        }
    }

    private long unitKeyBase(Layer l, int row) {
        return dropSeed + (long) l.index * 0x9E3779B97F4A7C15L + (long) row * 65_537L;
    }

    /** Whether the unit with {@code key} survives dropout: a SplitMix64 hash against the rate. */
    private boolean kept(long key) {
        long z = key * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 11) * 0x1.0p-53 >= unitDropout;
    }

    /** The factor dLoss/dPreactivation of layer {@code l} takes for the last forward pass's dropout. */
    private double backwardScale(Layer l) {
        return dropping && l.dropped() ? 1 / (1 - unitDropout) : 1;
    }

    /** Layers 1.. of an expert or gate chain, the first one reading its block of the bottom product. */
    private void chainForwardFromBottom(Chain c, LayerBuf[] lb, Buffers b) {
        int rows = b.rows;
        for (int j = 1; j < c.layers.length; j++) {
            Layer l = c.layers[j];
            Blas.Ptr in = j == 1 ? b.bottom.ptr : lb[j - 1].out.ptr;
            long inOff = j == 1 ? c.col : 0;
            int ld = j == 1 ? bottomWidth : l.in();
            Blas.gemm(
                    false,
                    true,
                    rows,
                    l.out(),
                    l.in(),
                    1,
                    in,
                    inOff,
                    ld,
                    paramPtr,
                    l.weight().offset(),
                    l.in(),
                    0,
                    lb[j].out.ptr,
                    0,
                    l.out());
            if (l.bn() != null) {
                bnForward(lb[j].out, 0, l.out(), b, l);
            }
            boolean last = j == c.layers.length - 1;
            if (!last || c.softmax) {
                // An expert's last layer is activated by the mixture pass, which reads it anyway.
                activate(lb[j].out, rows, l, c.softmax && last, c.mask);
            }
        }
    }

    private void activate(Mat m, int rows, Layer l, boolean softmax, boolean[] mask) {
        if (f32) {
            activateF(m, rows, l, softmax, mask);
        } else {
            activateD(m, rows, l, softmax, mask);
        }
    }

    /**
     * With PLE (CGC), the experts gate {@code g} may weigh: the shared ones and task {@code g}'s own
     * (experts are numbered shared first, then each task's in task order); null (all) otherwise.
     */
    private static boolean[] gateMask(Architecture arch, int g, int experts) {
        if (arch.variant() != Variant.PLE) {
            return null;
        }
        boolean[] m = new boolean[experts];
        for (int e = 0; e < experts; e++) {
            int own = e - arch.sharedExperts();
            m[e] = own < 0 || own / arch.taskExperts() == g;
        }
        return m;
    }

    private void maskAndBiasGradient(Mat dz, Mat act, int rows, Layer l) {
        if (f32) {
            maskAndBiasGradientF(dz, act, rows, l);
        } else {
            maskAndBiasGradientD(dz, act, rows, l);
        }
    }

    /** Reads every layer's bias (zeros without one) from the parameters, once per pass. */
    private void readBiases() {
        for (Layer l : allLayers) {
            // A batch-normalized layer's bias is not used (the arrays stay at 0).
            if (l.bias() != null && l.bn() == null) {
                if (f32) {
                    paramAcc.readFloats(l.bias().offset(), biasesF[l.index], 0, l.out());
                } else {
                    paramAcc.read(l.bias().offset(), biasesD[l.index], 0, l.out());
                }
            }
        }
    }

    /**
     * Backward pass from dLoss/dLogits ([rows, tasks] row-major) after {@link #forward} on the same
     * buffers: fills the gradient buffer and dLoss/dInput.
     */
    public void backward(Buffers b, double[] dLogits) {
        int rows = b.rows;
        // Towers, down to dLoss/dMixture.
        for (int t = 0; t < tasks; t++) {
            Chain c = towerChains[t];
            LayerBuf[] lb = b.towerBufs[t];
            for (int r = 0; r < rows; r++) {
                b.column[r] = dLogits[r * tasks + t];
            }
            lb[c.layers.length - 1].dz.write(rows, b.column);
            for (int j = c.layers.length - 1; j >= 0; j--) {
                Layer l = c.layers[j];
                maskAndBiasGradient(lb[j].dz, lb[j].out, rows, l);
                if (l.bn() != null) {
                    bnBackward(lb[j].dz, 0, l.out(), b, l);
                }
                Mat in = j == 0 ? b.mix[t] : lb[j - 1].out;
                Blas.gemm(
                        true,
                        false,
                        l.out(),
                        l.in(),
                        rows,
                        1,
                        lb[j].dz.ptr,
                        0,
                        l.out(),
                        in.ptr,
                        0,
                        l.in(),
                        0,
                        gradPtr,
                        l.weight().offset(),
                        l.in());
                Mat target = j == 0 ? b.dmix[t] : lb[j - 1].dz;
                Blas.gemm(
                        false,
                        false,
                        rows,
                        l.in(),
                        l.out(),
                        1,
                        lb[j].dz.ptr,
                        0,
                        l.out(),
                        paramPtr,
                        l.weight().offset(),
                        l.in(),
                        0,
                        target.ptr,
                        0,
                        l.in());
            }
        }
        backwardFromMixtures(b);
        for (int k = lower.length - 1; k >= 0; k--) {
            lower[k].backwardFromMixtures(b.lower[k]);
        }
    }

    /**
     * This level's backward pass from dLoss/d(its mixtures) ({@code b.dmix}, written by the towers or
     * by the level above): its gradients, and dLoss/d(its input blocks) into {@code b.din}.
     */
    private void backwardFromMixtures(Buffers b) {
        int rows = b.rows;
        if (f32) {
            mixBackwardF(b);
        } else {
            mixBackwardD(b);
        }
        // Chains with layers after the bottom one, down to their block of the bottom gradient.
        for (int e = 0; e < experts; e++) {
            if (expertChains[e].layers.length > 1) {
                chainBackwardToBottom(expertChains[e], b.expertBufs[e], b);
            }
        }
        for (int g = 0; g < gateChains.length; g++) {
            if (gateChains[g].layers.length > 1) {
                chainBackwardToBottom(gateChains[g], b.gateBufs[g], b);
            }
        }
        if (f32) {
            bottomMaskAndBiasGradientF(b);
        } else {
            bottomMaskAndBiasGradientD(b);
        }
        for (int i = 0; i < experts; i++) {
            if (bottomLayers[i].bn() != null) {
                bnBackward(b.bottomDz, bottomCols[i], bottomWidth, b, bottomLayers[i]);
            }
        }
        // Per input block, one product for the weight gradients of the first layers reading it, one for
        // dLoss/d(block) (on level 1: one each for all of them, and dLoss/dx).
        for (int q = 0; q < blockWidth.length; q++) {
            int w = blockWidth[q];
            Blas.gemm(
                    true,
                    false,
                    groupWidth[q],
                    w,
                    rows,
                    1,
                    b.bottomDz.ptr,
                    groupCol[q],
                    bottomWidth,
                    b.in[q].ptr,
                    0,
                    w,
                    0,
                    gradPtr,
                    groupOffset[q],
                    w);
            Blas.gemm(
                    false,
                    false,
                    rows,
                    w,
                    groupWidth[q],
                    1,
                    b.bottomDz.ptr,
                    groupCol[q],
                    bottomWidth,
                    paramPtr,
                    groupOffset[q],
                    w,
                    0,
                    b.din[q].ptr,
                    0,
                    w);
        }
    }

    /**
     * Layers last..1 of an expert or gate chain whose last layer's {@code dz} holds dLoss/dActivation
     * (for a gate: dLoss/dLogit of the softmax): weight and bias gradients, and dLoss/dActivation of
     * the chain's bottom block, written by the product into that block of {@code bottomDz}.
     */
    private void chainBackwardToBottom(Chain c, LayerBuf[] lb, Buffers b) {
        int rows = b.rows;
        for (int j = c.layers.length - 1; j >= 1; j--) {
            Layer l = c.layers[j];
            if (!(c.softmax && j == c.layers.length - 1)) {
                maskAndBiasGradient(lb[j].dz, lb[j].out, rows, l);
                if (l.bn() != null) {
                    bnBackward(lb[j].dz, 0, l.out(), b, l);
                }
            }
            Blas.Ptr in = j == 1 ? b.bottom.ptr : lb[j - 1].out.ptr;
            long inOff = j == 1 ? c.col : 0;
            int ld = j == 1 ? bottomWidth : l.in();
            Blas.gemm(
                    true,
                    false,
                    l.out(),
                    l.in(),
                    rows,
                    1,
                    lb[j].dz.ptr,
                    0,
                    l.out(),
                    in,
                    inOff,
                    ld,
                    0,
                    gradPtr,
                    l.weight().offset(),
                    l.in());
            Blas.Ptr target = j == 1 ? b.bottomDz.ptr : lb[j - 1].dz.ptr;
            Blas.gemm(
                    false,
                    false,
                    rows,
                    l.in(),
                    l.out(),
                    1,
                    lb[j].dz.ptr,
                    0,
                    l.out(),
                    paramPtr,
                    l.weight().offset(),
                    l.in(),
                    0,
                    target,
                    j == 1 ? c.col : 0,
                    j == 1 ? bottomWidth : l.in());
        }
    }

    /** Where row {@code r} (of the chunk starting at {@code r0}) of expert e's output starts. */
    private int expertOff(int e, int r0, int r) {
        return expertChains[e].layers.length == 1 ? (r0 + r) * mixWidth : r * mixWidth;
    }

    private int gateOff(int g, int r0, int r) {
        return gateChains[g].layers.length == 1 ? (r0 + r) * experts : r * experts;
    }

    // The element-wise passes, in a float32 version (F) for float32 models, which read and write
    // their native activations without conversion, and a float64 version (D), for gradient checks.
    // The two are the same code but for the element type.

    /** Bias and ReLU (or the row softmax of a gate's last layer) over a layer's output, in place. */
    private void activateF(Mat m, int rows, Layer l, boolean softmax, boolean[] mask) {
        int w = l.out();
        int cr = chunkRows(w);
        float[] bias = biasesF[l.index];
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            m.acc.readFloats(r0 * w, saF, 0, n * w);
            for (int r = 0; r < n; r++) {
                if (softmax) {
                    softmaxRow(saF, r * w, w, mask);
                } else {
                    activateRow(saF, r * w, bias, w, l.act());
                    if (dropping && l.dropped()) {
                        dropRow(saF, r * w, w, l, r0 + r);
                    }
                }
            }
            m.acc.writeFloats(r0 * w, saF, 0, n * w);
        }
    }

    /**
     * {@link #activate} over the bottom product, block by block; the outputs of one-layer experts and
     * gates are also copied to the heap for the mixture.
     */
    private void activateBottomF(Buffers b) {
        int rows = b.rows;
        int cr = chunkRows(bottomWidth);
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            b.bottom.acc.readFloats(r0 * bottomWidth, saF, 0, n * bottomWidth);
            for (int r = 0; r < n; r++) {
                int o = r * bottomWidth;
                for (int i = 0; i < bottomLayers.length; i++) {
                    Layer l = bottomLayers[i];
                    float[] copy = b.oneLayerOutF[i];
                    if (i >= experts && copy != null) {
                        softmaxRow(saF, o + bottomCols[i], l.out(), gateChains[i - experts].mask);
                    } else {
                        activateRow(saF, o + bottomCols[i], biasesF[l.index], l.out(), l.act());
                        if (dropping && l.dropped()) {
                            dropRow(saF, o + bottomCols[i], l.out(), l, r0 + r);
                        }
                    }
                    if (copy != null) {
                        System.arraycopy(saF, o + bottomCols[i], copy, (r0 + r) * l.out(), l.out());
                    }
                }
            }
            b.bottom.acc.writeFloats(r0 * bottomWidth, saF, 0, n * bottomWidth);
        }
    }

    private static void activateRow(float[] a, int o, float[] bias, int w, Activation act) {
        if (act == Activation.TANH || act == Activation.SIGMOID) {
            for (int j = 0; j < w; j++) {
                double z = a[o + j] + bias[j];
                a[o + j] = (float) (act == Activation.TANH ? Math.tanh(z) : Objective.sigmoid(z));
            }
        } else if (act == Activation.RELU) {
            for (int j = 0; j < w; j++) {
                // Branch-free: the sign of an activation is unpredictable, a branch mispredicts half the time.
                a[o + j] = Math.max(a[o + j] + bias[j], 0);
            }
        } else {
            for (int j = 0; j < w; j++) {
                a[o + j] += bias[j];
            }
        }
    }

    /** The softmax of a row in place; with {@code mask}, over the entries it allows (the others 0). */
    private static void softmaxRow(float[] a, int o, int cols, boolean[] mask) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < cols; k++) {
            if (mask == null || mask[k]) {
                max = Math.max(max, a[o + k]);
            }
        }
        double sum = 0;
        for (int k = 0; k < cols; k++) {
            double v = mask == null || mask[k] ? Math.exp(a[o + k] - max) : 0;
            a[o + k] = (float) v;
            sum += v;
        }
        for (int k = 0; k < cols; k++) {
            a[o + k] = (float) (a[o + k] / sum);
        }
    }

    /**
     * A chunk of rows of the outputs of the deeper experts and gates (one-layer ones are on the
     * heap). In the forward pass ({@code activate}), the deeper experts' last layers hold
     * pre-activations: their bias and ReLU are applied here, fused with the mixture, and written back
     * only when a backward pass will read them ({@code keep}).
     */
    private void loadMixInputsF(Buffers b, int r0, int n, boolean activate, boolean keep) {
        for (int e = 0; e < experts; e++) {
            Chain c = expertChains[e];
            if (c.layers.length > 1) {
                Mat out = b.expertBufs[e][c.layers.length - 1].out;
                float[] x = mixExpertF[e];
                out.acc.readFloats(r0 * mixWidth, x, 0, n * mixWidth);
                if (activate) {
                    Layer l = c.last();
                    for (int r = 0; r < n; r++) {
                        activateRow(x, r * mixWidth, biasesF[l.index], mixWidth, l.act());
                        if (dropping && l.dropped()) {
                            dropRow(x, r * mixWidth, mixWidth, l, r0 + r);
                        }
                    }
                    if (keep) {
                        out.acc.writeFloats(r0 * mixWidth, x, 0, n * mixWidth);
                    }
                }
            }
        }
        for (int g = 0; g < gateChains.length; g++) {
            Chain c = gateChains[g];
            if (c.layers.length > 1) {
                b.gateBufs[g][c.layers.length - 1].out.acc.readFloats(r0 * experts, mixGateF[g], 0, n * experts);
            }
        }
    }

    private float[] expertRowF(Buffers b, int e) {
        return expertChains[e].layers.length == 1 ? b.oneLayerOutF[e] : mixExpertF[e];
    }

    private float[] gateRowF(Buffers b, int g) {
        return gateChains[g].layers.length == 1 ? b.oneLayerOutF[experts + g] : mixGateF[g];
    }

    /** m_t = sum_e g_t(x)_e f_e(x) for every task, a chunk of rows at a time. */
    private void mixForwardF(Buffers b, boolean keep) {
        int rows = b.rows;
        int h = mixWidth;
        for (int r0 = 0; r0 < rows; r0 += MIX_ROWS) {
            int n = Math.min(MIX_ROWS, rows - r0);
            loadMixInputsF(b, r0, n, true, keep);
            for (int t = 0; t < mixes; t++) {
                int g = gateOfTask[t];
                for (int r = 0; r < n; r++) {
                    int o = r * h;
                    if (g < 0) {
                        int e = expertOfTask[t];
                        System.arraycopy(expertRowF(b, e), expertOff(e, r0, r), saF, o, h);
                        continue;
                    }
                    float[] p = gateRowF(b, g);
                    int po = gateOff(g, r0, r);
                    java.util.Arrays.fill(saF, o, o + h, 0);
                    for (int e = 0; e < experts; e++) {
                        float w = p[po + e];
                        float[] he = expertRowF(b, e);
                        int s = expertOff(e, r0, r);
                        for (int k = 0; k < h; k++) {
                            saF[o + k] += w * he[s + k];
                        }
                    }
                }
                b.mix[t].acc.writeFloats(r0 * h, saF, 0, n * h);
            }
        }
    }

    /**
     * The mixture's backward, a chunk of rows at a time: dLoss/d(expert outputs) and, through each
     * gate's softmax, dLoss/d(gate logits), written where the next step reads them: the bottom
     * gradient's block of a one-layer expert or gate, or the last layer's {@code dz} of a deeper one
     * (whose own backward then writes its block of the bottom gradient).
     */
    private void mixBackwardF(Buffers b) {
        int rows = b.rows;
        int h = mixWidth;
        for (int r0 = 0; r0 < rows; r0 += MIX_ROWS) {
            int n = Math.min(MIX_ROWS, rows - r0);
            loadMixInputsF(b, r0, n, false, false);
            for (int e = 0; e < experts; e++) {
                java.util.Arrays.fill(mixDeF[e], 0, n * h, 0);
            }
            for (int g = 0; g < gateChains.length; g++) {
                java.util.Arrays.fill(mixDp[g], 0, n * experts, 0);
            }
            for (int t = 0; t < mixes; t++) {
                b.dmix[t].acc.readFloats(r0 * h, saF, 0, n * h);
                int g = gateOfTask[t];
                for (int r = 0; r < n; r++) {
                    int o = r * h;
                    if (g < 0) {
                        float[] de = mixDeF[expertOfTask[t]];
                        for (int k = 0; k < h; k++) {
                            de[o + k] += saF[o + k];
                        }
                        continue;
                    }
                    float[] p = gateRowF(b, g);
                    int po = gateOff(g, r0, r);
                    for (int e = 0; e < experts; e++) {
                        float w = p[po + e];
                        float[] he = expertRowF(b, e);
                        int s = expertOff(e, r0, r);
                        float[] de = mixDeF[e];
                        double dot = 0;
                        for (int k = 0; k < h; k++) {
                            dot += saF[o + k] * he[s + k];
                            de[o + k] += w * saF[o + k];
                        }
                        mixDp[g][r * experts + e] += dot;
                    }
                }
            }
            for (int e = 0; e < experts; e++) {
                Chain c = expertChains[e];
                if (c.layers.length == 1) {
                    for (int r = 0; r < n; r++) {
                        b.bottomDz.acc.writeFloats((r0 + r) * bottomWidth + c.col, mixDeF[e], r * h, h);
                    }
                } else {
                    b.expertBufs[e][c.layers.length - 1].dz.acc.writeFloats(r0 * h, mixDeF[e], 0, n * h);
                }
            }
            for (int g = 0; g < gateChains.length; g++) {
                Chain c = gateChains[g];
                float[] p = gateRowF(b, g);
                for (int r = 0; r < n; r++) {
                    // Softmax backward: dLoss/dz = p (dp - sum(p dp)).
                    int po = gateOff(g, r0, r);
                    int q = r * experts;
                    double s = 0;
                    for (int k = 0; k < experts; k++) {
                        s += p[po + k] * mixDp[g][q + k];
                    }
                    for (int k = 0; k < experts; k++) {
                        mixDzF[q + k] = (float) (p[po + k] * (mixDp[g][q + k] - s));
                    }
                    if (c.layers.length == 1) {
                        b.bottomDz.acc.writeFloats((r0 + r) * bottomWidth + c.col, mixDzF, q, experts);
                    }
                }
                if (c.layers.length > 1) {
                    b.gateBufs[g][c.layers.length - 1].dz.acc.writeFloats(r0 * experts, mixDzF, 0, n * experts);
                }
            }
        }
    }

    /**
     * Turns a layer's dLoss/dActivation into dLoss/dPreactivation in place (the ReLU mask, as a select
     * on the activation, which is {@code >= 0} after ReLU) and writes its bias gradient (column sums).
     */
    private void maskAndBiasGradientF(Mat dz, Mat act, int rows, Layer l) {
        int w = l.out();
        int cr = chunkRows(w);
        float[] s = biasGradsF[l.index];
        java.util.Arrays.fill(s, 0, w, 0);
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            dz.acc.readFloats(r0 * w, saF, 0, n * w);
            if (l.activated()) {
                act.acc.readFloats(r0 * w, sbF, 0, n * w);
            }
            for (int r = 0; r < n; r++) {
                maskRow(saF, sbF, r * w, s, w, l.act(), (float) backwardScale(l));
            }
            if (l.activated()) {
                dz.acc.writeFloats(r0 * w, saF, 0, n * w);
            }
        }
        if (l.bias() != null) {
            gradAcc.writeFloats(l.bias().offset(), s, 0, w);
        }
    }

    /** {@link #maskAndBiasGradient} over the bottom gradient, block by block. */
    private void bottomMaskAndBiasGradientF(Buffers b) {
        int rows = b.rows;
        int cr = chunkRows(bottomWidth);
        for (Layer l : bottomLayers) {
            java.util.Arrays.fill(biasGradsF[l.index], 0, l.out(), 0);
        }
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            b.bottomDz.acc.readFloats(r0 * bottomWidth, saF, 0, n * bottomWidth);
            b.bottom.acc.readFloats(r0 * bottomWidth, sbF, 0, n * bottomWidth);
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < bottomLayers.length; i++) {
                    Layer l = bottomLayers[i];
                    maskRow(saF, sbF, r * bottomWidth + bottomCols[i], biasGradsF[l.index], l.out(), l.act(), (float)
                            backwardScale(l));
                }
            }
            b.bottomDz.acc.writeFloats(r0 * bottomWidth, saF, 0, n * bottomWidth);
        }
        for (Layer l : bottomLayers) {
            if (l.bias() != null) {
                gradAcc.writeFloats(l.bias().offset(), biasGradsF[l.index], 0, l.out());
            }
        }
    }

    /**
     * dLoss/dActivation to dLoss/dPreactivation of a row of a ReLU layer (kept where the activation is
     * positive, times {@code scale}: 1 / (1 - dropout) for a layer whose units dropout zeroed, which
     * zero activations also mask), adding it to the bias gradient {@code sum}.
     */
    private static void maskRow(float[] d, float[] act, int o, float[] sum, int w, Activation kind, float scale) {
        if (kind == Activation.TANH || kind == Activation.SIGMOID) {
            for (int j = 0; j < w; j++) {
                // The stored activation is a / (1 - rate) when kept, 0 when dropout dropped it.
                float v = 0f;
                if (!(scale != 1f && act[o + j] == 0f)) {
                    double a = act[o + j] / scale;
                    v = (float) (d[o + j] * scale * (kind == Activation.TANH ? 1 - a * a : a * (1 - a)));
                }
                d[o + j] = v;
                sum[j] += v;
            }
        } else if (kind == Activation.RELU) {
            for (int j = 0; j < w; j++) {
                // After ReLU an activation is +0.0 or positive: keep d where its bits are not all zero, with
                // integer operations. A conditional here compiles to a branch that the signs make
                // unpredictable: 4.4 ns an element against 0.6 measured.
                int bits = Float.floatToRawIntBits(act[o + j]);
                float v = scale * Float.intBitsToFloat(Float.floatToRawIntBits(d[o + j]) & ((bits | -bits) >> 31));
                d[o + j] = v;
                sum[j] += v;
            }
        } else {
            for (int j = 0; j < w; j++) {
                sum[j] += d[o + j];
            }
        }
    }

    /** Bias and ReLU (or the row softmax of a gate's last layer) over a layer's output, in place. */
    private void activateD(Mat m, int rows, Layer l, boolean softmax, boolean[] mask) {
        int w = l.out();
        int cr = chunkRows(w);
        double[] bias = biasesD[l.index];
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            m.acc.read(r0 * w, saD, 0, n * w);
            for (int r = 0; r < n; r++) {
                if (softmax) {
                    softmaxRow(saD, r * w, w, mask);
                } else {
                    activateRow(saD, r * w, bias, w, l.act());
                    if (dropping && l.dropped()) {
                        dropRow(saD, r * w, w, l, r0 + r);
                    }
                }
            }
            m.acc.write(r0 * w, saD, 0, n * w);
        }
    }

    /**
     * {@link #activate} over the bottom product, block by block; the outputs of one-layer experts and
     * gates are also copied to the heap for the mixture.
     */
    private void activateBottomD(Buffers b) {
        int rows = b.rows;
        int cr = chunkRows(bottomWidth);
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            b.bottom.acc.read(r0 * bottomWidth, saD, 0, n * bottomWidth);
            for (int r = 0; r < n; r++) {
                int o = r * bottomWidth;
                for (int i = 0; i < bottomLayers.length; i++) {
                    Layer l = bottomLayers[i];
                    double[] copy = b.oneLayerOutD[i];
                    if (i >= experts && copy != null) {
                        softmaxRow(saD, o + bottomCols[i], l.out(), gateChains[i - experts].mask);
                    } else {
                        activateRow(saD, o + bottomCols[i], biasesD[l.index], l.out(), l.act());
                        if (dropping && l.dropped()) {
                            dropRow(saD, o + bottomCols[i], l.out(), l, r0 + r);
                        }
                    }
                    if (copy != null) {
                        System.arraycopy(saD, o + bottomCols[i], copy, (r0 + r) * l.out(), l.out());
                    }
                }
            }
            b.bottom.acc.write(r0 * bottomWidth, saD, 0, n * bottomWidth);
        }
    }

    private static void activateRow(double[] a, int o, double[] bias, int w, Activation act) {
        if (act == Activation.TANH || act == Activation.SIGMOID) {
            for (int j = 0; j < w; j++) {
                double z = a[o + j] + bias[j];
                a[o + j] = act == Activation.TANH ? Math.tanh(z) : Objective.sigmoid(z);
            }
        } else if (act == Activation.RELU) {
            for (int j = 0; j < w; j++) {
                // Branch-free: the sign of an activation is unpredictable, a branch mispredicts half the time.
                a[o + j] = Math.max(a[o + j] + bias[j], 0);
            }
        } else {
            for (int j = 0; j < w; j++) {
                a[o + j] += bias[j];
            }
        }
    }

    /** The softmax of a row in place; with {@code mask}, over the entries it allows (the others 0). */
    private static void softmaxRow(double[] a, int o, int cols, boolean[] mask) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < cols; k++) {
            if (mask == null || mask[k]) {
                max = Math.max(max, a[o + k]);
            }
        }
        double sum = 0;
        for (int k = 0; k < cols; k++) {
            double v = mask == null || mask[k] ? Math.exp(a[o + k] - max) : 0;
            a[o + k] = (double) v;
            sum += v;
        }
        for (int k = 0; k < cols; k++) {
            a[o + k] = (double) (a[o + k] / sum);
        }
    }

    /**
     * A chunk of rows of the outputs of the deeper experts and gates (one-layer ones are on the
     * heap). In the forward pass ({@code activate}), the deeper experts' last layers hold
     * pre-activations: their bias and ReLU are applied here, fused with the mixture, and written back
     * only when a backward pass will read them ({@code keep}).
     */
    private void loadMixInputsD(Buffers b, int r0, int n, boolean activate, boolean keep) {
        for (int e = 0; e < experts; e++) {
            Chain c = expertChains[e];
            if (c.layers.length > 1) {
                Mat out = b.expertBufs[e][c.layers.length - 1].out;
                double[] x = mixExpertD[e];
                out.acc.read(r0 * mixWidth, x, 0, n * mixWidth);
                if (activate) {
                    Layer l = c.last();
                    for (int r = 0; r < n; r++) {
                        activateRow(x, r * mixWidth, biasesD[l.index], mixWidth, l.act());
                        if (dropping && l.dropped()) {
                            dropRow(x, r * mixWidth, mixWidth, l, r0 + r);
                        }
                    }
                    if (keep) {
                        out.acc.write(r0 * mixWidth, x, 0, n * mixWidth);
                    }
                }
            }
        }
        for (int g = 0; g < gateChains.length; g++) {
            Chain c = gateChains[g];
            if (c.layers.length > 1) {
                b.gateBufs[g][c.layers.length - 1].out.acc.read(r0 * experts, mixGateD[g], 0, n * experts);
            }
        }
    }

    private double[] expertRowD(Buffers b, int e) {
        return expertChains[e].layers.length == 1 ? b.oneLayerOutD[e] : mixExpertD[e];
    }

    private double[] gateRowD(Buffers b, int g) {
        return gateChains[g].layers.length == 1 ? b.oneLayerOutD[experts + g] : mixGateD[g];
    }

    /** m_t = sum_e g_t(x)_e f_e(x) for every task, a chunk of rows at a time. */
    private void mixForwardD(Buffers b, boolean keep) {
        int rows = b.rows;
        int h = mixWidth;
        for (int r0 = 0; r0 < rows; r0 += MIX_ROWS) {
            int n = Math.min(MIX_ROWS, rows - r0);
            loadMixInputsD(b, r0, n, true, keep);
            for (int t = 0; t < mixes; t++) {
                int g = gateOfTask[t];
                for (int r = 0; r < n; r++) {
                    int o = r * h;
                    if (g < 0) {
                        int e = expertOfTask[t];
                        System.arraycopy(expertRowD(b, e), expertOff(e, r0, r), saD, o, h);
                        continue;
                    }
                    double[] p = gateRowD(b, g);
                    int po = gateOff(g, r0, r);
                    java.util.Arrays.fill(saD, o, o + h, 0);
                    for (int e = 0; e < experts; e++) {
                        double w = p[po + e];
                        double[] he = expertRowD(b, e);
                        int s = expertOff(e, r0, r);
                        for (int k = 0; k < h; k++) {
                            saD[o + k] += w * he[s + k];
                        }
                    }
                }
                b.mix[t].acc.write(r0 * h, saD, 0, n * h);
            }
        }
    }

    /**
     * The mixture's backward, a chunk of rows at a time: dLoss/d(expert outputs) and, through each
     * gate's softmax, dLoss/d(gate logits), written where the next step reads them: the bottom
     * gradient's block of a one-layer expert or gate, or the last layer's {@code dz} of a deeper one
     * (whose own backward then writes its block of the bottom gradient).
     */
    private void mixBackwardD(Buffers b) {
        int rows = b.rows;
        int h = mixWidth;
        for (int r0 = 0; r0 < rows; r0 += MIX_ROWS) {
            int n = Math.min(MIX_ROWS, rows - r0);
            loadMixInputsD(b, r0, n, false, false);
            for (int e = 0; e < experts; e++) {
                java.util.Arrays.fill(mixDeD[e], 0, n * h, 0);
            }
            for (int g = 0; g < gateChains.length; g++) {
                java.util.Arrays.fill(mixDp[g], 0, n * experts, 0);
            }
            for (int t = 0; t < mixes; t++) {
                b.dmix[t].acc.read(r0 * h, saD, 0, n * h);
                int g = gateOfTask[t];
                for (int r = 0; r < n; r++) {
                    int o = r * h;
                    if (g < 0) {
                        double[] de = mixDeD[expertOfTask[t]];
                        for (int k = 0; k < h; k++) {
                            de[o + k] += saD[o + k];
                        }
                        continue;
                    }
                    double[] p = gateRowD(b, g);
                    int po = gateOff(g, r0, r);
                    for (int e = 0; e < experts; e++) {
                        double w = p[po + e];
                        double[] he = expertRowD(b, e);
                        int s = expertOff(e, r0, r);
                        double[] de = mixDeD[e];
                        double dot = 0;
                        for (int k = 0; k < h; k++) {
                            dot += saD[o + k] * he[s + k];
                            de[o + k] += w * saD[o + k];
                        }
                        mixDp[g][r * experts + e] += dot;
                    }
                }
            }
            for (int e = 0; e < experts; e++) {
                Chain c = expertChains[e];
                if (c.layers.length == 1) {
                    for (int r = 0; r < n; r++) {
                        b.bottomDz.acc.write((r0 + r) * bottomWidth + c.col, mixDeD[e], r * h, h);
                    }
                } else {
                    b.expertBufs[e][c.layers.length - 1].dz.acc.write(r0 * h, mixDeD[e], 0, n * h);
                }
            }
            for (int g = 0; g < gateChains.length; g++) {
                Chain c = gateChains[g];
                double[] p = gateRowD(b, g);
                for (int r = 0; r < n; r++) {
                    // Softmax backward: dLoss/dz = p (dp - sum(p dp)).
                    int po = gateOff(g, r0, r);
                    int q = r * experts;
                    double s = 0;
                    for (int k = 0; k < experts; k++) {
                        s += p[po + k] * mixDp[g][q + k];
                    }
                    for (int k = 0; k < experts; k++) {
                        mixDzD[q + k] = (double) (p[po + k] * (mixDp[g][q + k] - s));
                    }
                    if (c.layers.length == 1) {
                        b.bottomDz.acc.write((r0 + r) * bottomWidth + c.col, mixDzD, q, experts);
                    }
                }
                if (c.layers.length > 1) {
                    b.gateBufs[g][c.layers.length - 1].dz.acc.write(r0 * experts, mixDzD, 0, n * experts);
                }
            }
        }
    }

    /**
     * Turns a layer's dLoss/dActivation into dLoss/dPreactivation in place (the ReLU mask, as a select
     * on the activation, which is {@code >= 0} after ReLU) and writes its bias gradient (column sums).
     */
    private void maskAndBiasGradientD(Mat dz, Mat act, int rows, Layer l) {
        int w = l.out();
        int cr = chunkRows(w);
        double[] s = biasGradsD[l.index];
        java.util.Arrays.fill(s, 0, w, 0);
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            dz.acc.read(r0 * w, saD, 0, n * w);
            if (l.activated()) {
                act.acc.read(r0 * w, sbD, 0, n * w);
            }
            for (int r = 0; r < n; r++) {
                maskRow(saD, sbD, r * w, s, w, l.act(), backwardScale(l));
            }
            if (l.activated()) {
                dz.acc.write(r0 * w, saD, 0, n * w);
            }
        }
        if (l.bias() != null) {
            gradAcc.write(l.bias().offset(), s, 0, w);
        }
    }

    /** {@link #maskAndBiasGradient} over the bottom gradient, block by block. */
    private void bottomMaskAndBiasGradientD(Buffers b) {
        int rows = b.rows;
        int cr = chunkRows(bottomWidth);
        for (Layer l : bottomLayers) {
            java.util.Arrays.fill(biasGradsD[l.index], 0, l.out(), 0);
        }
        for (int r0 = 0; r0 < rows; r0 += cr) {
            int n = Math.min(cr, rows - r0);
            b.bottomDz.acc.read(r0 * bottomWidth, saD, 0, n * bottomWidth);
            b.bottom.acc.read(r0 * bottomWidth, sbD, 0, n * bottomWidth);
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < bottomLayers.length; i++) {
                    Layer l = bottomLayers[i];
                    maskRow(
                            saD,
                            sbD,
                            r * bottomWidth + bottomCols[i],
                            biasGradsD[l.index],
                            l.out(),
                            l.act(),
                            backwardScale(l));
                }
            }
            b.bottomDz.acc.write(r0 * bottomWidth, saD, 0, n * bottomWidth);
        }
        for (Layer l : bottomLayers) {
            if (l.bias() != null) {
                gradAcc.write(l.bias().offset(), biasGradsD[l.index], 0, l.out());
            }
        }
    }

    private static void maskRow(double[] d, double[] act, int o, double[] sum, int w, Activation kind, double scale) {
        if (kind == Activation.TANH || kind == Activation.SIGMOID) {
            for (int j = 0; j < w; j++) {
                // The stored activation is a / (1 - rate) when kept, 0 when dropout dropped it.
                double v = 0;
                if (!(scale != 1 && act[o + j] == 0)) {
                    double a = act[o + j] / scale;
                    v = d[o + j] * scale * (kind == Activation.TANH ? 1 - a * a : a * (1 - a));
                }
                d[o + j] = v;
                sum[j] += v;
            }
        } else if (kind == Activation.RELU) {
            for (int j = 0; j < w; j++) {
                // After ReLU an activation is +0.0 or positive: keep d where its bits are not all zero, with
                // integer operations. A conditional here compiles to a branch that the signs make
                // unpredictable: 4.4 ns an element against 0.6 measured.
                long bits = Double.doubleToRawLongBits(act[o + j]);
                double v =
                        scale * Double.longBitsToDouble(Double.doubleToRawLongBits(d[o + j]) & ((bits | -bits) >> 63));
                d[o + j] = v;
                sum[j] += v;
            }
        } else {
            for (int j = 0; j < w; j++) {
                sum[j] += d[o + j];
            }
        }
    }
}
