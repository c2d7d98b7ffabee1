"""The course's data sets: downloaded, verified, cached, and batched into tensors.

One module per family: ``download`` (registry, fetch, status), ``vocab`` (token <-> id),
``streams`` (continuous-stream batching for truncated BPTT), ``imdb`` (sentiment reviews),
``buckets`` (batches of similar length),
``ptb`` (word-level language modelling), ``text`` (character corpora), ``grammars`` (formal
languages: use it as ``grammars.generate("ndfa", ...)``) and ``baum_sweet`` (the long-range toy task).
"""

from course_lib.data import grammars
from course_lib.data.baum_sweet import baum_sweet, encode_number, make_baum_sweet_dataset
from course_lib.data.buckets import BucketBatchSampler

from course_lib.data.download import (
    REGISTRY,
    ChecksumError,
    DataNotFoundError,
    DataSet,
    DownloadError,
    ensure,
    fetch,
    require,
    status,
)
from course_lib.data.imdb import (
    ImdbData,
    ReviewDataset,
    TokenizedReviews,
    collate_padded,
    encode_reviews,
    imdb_vocabulary,
    load_imdb,
    load_imdb_datasets,
    load_imdb_tokens,
    tokenize,
)
from course_lib.data.ptb import PtbCorpus, load_ptb
from course_lib.data.streams import StreamWindows, batchify_stream
from course_lib.data.text import (
    CharCorpus,
    char_corpus,
    char_vocabulary,
    load_timemachine,
    load_tinyshakespeare,
)
from course_lib.data.vocab import (
    END,
    END_ID,
    PAD,
    PAD_ID,
    SPECIALS,
    START,
    START_ID,
    UNK,
    UNK_ID,
    Vocabulary,
)
