/* Learning-rate schedules evaluated on the host from the host step index (passing the result to
 * hcl_optimizer_step as a float argument is not a sync): linear warm-up times constant, step,
 * cosine or linear decay. */
#include <math.h>
#include <string.h>
#include "halfcl/amp.h"

void hcl_lr_schedule_init(hcl_lr_schedule *s, float base_lr) {
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->base_lr = base_lr;
    s->decay = HCL_LR_CONSTANT;
    s->gamma = 0.1f;
}

float hcl_lr_at(const hcl_lr_schedule *s, int64_t step) {
    if (!s) return 0.0f;
    if (step < 0) step = 0;
    double base = s->base_lr, lr = base;
    if (s->warmup_steps > 0 && step < s->warmup_steps) {
        double f = s->warmup_start_factor;
        return (float)(base * (f + (1.0 - f) * (double)(step + 1) / (double)s->warmup_steps));
    }
    int64_t t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    double lo = s->min_lr;
    switch (s->decay) {
    case HCL_LR_STEP:
        if (s->step_size > 0) lr = base * pow((double)s->gamma, (double)(t / s->step_size));
        break;
    case HCL_LR_COSINE:
        if (s->decay_steps <= 0 || t >= s->decay_steps) lr = s->decay_steps <= 0 ? base : lo;
        else lr = lo + (base - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)t / (double)s->decay_steps));
        break;
    case HCL_LR_LINEAR:
        if (s->decay_steps <= 0 || t >= s->decay_steps) lr = s->decay_steps <= 0 ? base : lo;
        else lr = base + (lo - base) * (double)t / (double)s->decay_steps;
        break;
    default: break;
    }
    return (float)lr;
}
