"""Model builders: the study's CNNs for CIFAR and ResNet50 for the birds."""
