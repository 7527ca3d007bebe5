#pragma once
// Precompiled for every torch-using target: parsing torch/torch.h dominates their compile time.
#include <torch/torch.h>
