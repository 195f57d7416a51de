"""ImageNet input statistics: torchvision's VGG expects them, and sassl's backbones are trained with them."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
