"""D2M-GAN networks: motion encoder, visual module, VQ generators, multi-scale window discriminator."""

from d2m_train.models.discriminator import MultiScaleDiscriminator, WindowDiscriminator, flatten_latent
from d2m_train.models.generator import LEVELS, D2MGenerator, VQGenerator, input_length_for, stack_output_length
from d2m_train.models.motion import MotionEncoder
from d2m_train.models.visual import VisualModule

__all__ = ["LEVELS", "D2MGenerator", "MotionEncoder", "MultiScaleDiscriminator", "VQGenerator", "VisualModule",
           "WindowDiscriminator", "flatten_latent", "input_length_for", "stack_output_length"]
