"""What the paper and the authors' released code say of each setting, for the protocol
table every report opens with (setting | paper | authors' released code | this run).

The paper's column is Appendix D (Section 5.3 for the information plane) and says "not
stated" where the paper is silent. The released code is thanhnguyentang/pib (PIB v1.2,
Keras): its config.py, bash/pib1.sh, pib/model.py and the notebook
nb/read_and_write_expr_results.ipynb. It is a later version than the paper and trains the
Bernoulli (binary stochastic) model only, so for DET, VIB and GreedyIMB its column is how
this project extends it (`--preset authors`), said so in each cell.
"""

AUTHORS_CODE = "thanhnguyentang/pib (PIB v1.2, Keras)"

_CLASSIFICATION = (
    ("selection and retraining",
     "beta chosen on the last 10,000 training images, then retraining from scratch on "
     "the full training set with the best configuration",
     "no retraining: the best-validation epoch's parameters are tested"),
    ("validation",
     "the last 10,000 training images",
     "the last 1/60 of the training set (validation_split; 1,000 MNIST images)"),
    ("M in training",
     "32 samples per stochastic layer",
     "32 (bash/pib1.sh: --n_particles=32; config.py's default is 16)"),
    ("M at test",
     "32 for every stochastic model, VIB included ('all except DET')",
     "32 (test_n_particles)"),
    ("test passes",
     "10, the mean error reported",
     "100 (n_runs)"),
    ("optimiser",
     "Adadelta on MNIST, Adagrad on CIFAR10; VIB Adam",
     "Adamax (bash/pib1.sh; config.py's default is RMSprop); the same for every model in "
     "our extension"),
    ("learning rate",
     "not stated",
     "0.01"),
    ("batch size",
     "not stated",
     "16"),
    ("gradient clipping",
     "not stated",
     "global norm 5 (clipnorm)"),
    ("length",
     "not stated",
     "up to 1,000 epochs, early stopping with patience 20 on the validation error"),
    ("beta",
     "tuned over 1e-1 ... 1e-10: 1e-4 for JointIMB and GreedyIMB; VIB 1e-3 (MNIST), 1e-4 "
     "(CIFAR10)",
     "1e-4 per layer (bash/pib1.sh), not multiplied by gamma (pib/model.py: "
     "weighted_betas = pib_betas)"),
    ("gamma",
     "1 for every layer (JointIMB)",
     "(1, 0.8, 1) or (1, 1, 1) for VCR_0..VCR_2 in the two stored versions of "
     "bash/pib1.sh; the logged 1.43% is the mean of 30 such runs"),
    ("VIB",
     "bottleneck size, decoder and draws in training not stated; M = 32 at inference",
     "not in the released code (Bernoulli model only); our extension: K = 256, linear "
     "decoder"),
    ("seeds",
     "5 initialisations, shared by the five models, not named",
     "every seed fixed at 2019 (config.py); 30 runs per setting"),
    ("precision",
     "not stated",
     "float32 (Keras' default)"),
)

_ROBUSTNESS = (
    ("models attacked", "'the same four comparative models' of Section 5.1 (Table 1 lists "
     "DET, VIB, SFNN, GreedyIMB and JointIMB)", "not in the released code"),
    ("images", "the first 1,000 MNIST test images", "not in the released code"),
    ("attack", "Carlini-Wagner L2, targeted (each of the 9 other labels) and untargeted; "
     "iterations, steps and constants not stated", "not in the released code"),
    ("stochastic models", "not stated", "not in the released code"),
    ("success judged by", "not stated", "not in the released code"),
    ("targeted rate", "not stated", "not in the released code"),
)

_PLANE = (
    ("task", "12 binary inputs, 4,096 equally likely patterns, a binary label (Shwartz-Ziv "
     "and Tishby's file)", "not in the released code"),
    ("network", "12-10-8-6-4-2", "not in the released code"),
    ("split", "80% training", "not in the released code"),
    ("objective", "the sampled objective (M not stated)", "not in the released code"),
    ("optimiser", "SGD, learning rate and batch size not stated", "not in the released code"),
    ("beta", "1e-4 per layer", "not in the released code"),
    ("gamma", "not stated", "not in the released code"),
    ("length", "20,000 epochs (SFNN also up to 100,000)", "not in the released code"),
    ("seeds", "5 initialisations, not named; mutual information averaged over them",
     "not in the released code"),
    ("measurements", "not stated (Figure 1: one point per epoch colour)",
     "not in the released code"),
)

PROTOCOLS = {"mnist": _CLASSIFICATION, "cifar10": _CLASSIFICATION,
             "robustness": _ROBUSTNESS, "infoplane": _PLANE}
