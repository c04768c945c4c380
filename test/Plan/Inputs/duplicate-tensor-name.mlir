plan.program @p {
  %a = plan.tensor "x" "activation" : tensor<4xf32>
  %b = plan.tensor "x" "activation" : tensor<4xf32>
  plan.call "add" ins(%a, %a : tensor<4xf32>, tensor<4xf32>) outs(%b : tensor<4xf32>)
  plan.loss %b : tensor<4xf32>
}
