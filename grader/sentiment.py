"""Hidden cases of the sentiment chapter: other batches, sizes and seeds than the visible ones."""

import torch

from course_lib.checks.base import Case
from course_lib.checks.sentiment import pool_cases, random_batch

NO_PADDING = [(torch.tensor([4, 4]), torch.tensor(0)), (torch.tensor([7, 8]), torch.tensor(1))]

HIDDEN = {
    "sentiment.collate": [Case((random_batch(401 + k, size),)) for k, size in enumerate((1, 2, 7, 16))]
                         + [Case((NO_PADDING,))],
    "sentiment.masked_max_pool": pool_cases(402, ((1, 1, 1), (4, 9, 3), (8, 20, 16))),
    "sentiment.sentiment_classifier": [Case((97 + i, 5 + i, 11 - i, kind), seed=403 + i)
                                       for i, kind in enumerate(("mlp", "elman", "lstm") * 2)],
}
